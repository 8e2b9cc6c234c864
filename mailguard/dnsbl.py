"""Do the blocklists rspamd uses answer through the resolver rspamd uses? (#16)

Each list is asked for its documented test point. The big lists refuse queries that come through
shared or public resolvers, with error codes or no answer at all; rspamd then scores nothing
from them and says nothing about it. PROBE builds, sends and reads the queries on the host, at the
very resolver rspamd asks (operations.dns runs it); here its answers are judged and reported.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LISTED = ipaddress.ip_network("127.0.0.0/8")  # every list answers "listed" inside 127/8
SPAMHAUS_REFUSED = ("127.255.255.252", "127.255.255.254", "127.255.255.255")  # typo, public resolver, over limit


@dataclass(frozen=True)
class Blocklist:
    zone: str
    test_point: str  # the name under the zone its operator documents as always listed
    refused: tuple[str, ...]  # answers that mean "this resolver may not ask"
    dqs_zone: str | None = None  # where a Spamhaus DQS key takes the queries instead
    lists_senders: bool = False  # it lists sending IPs: a listing gets this server's mail refused

    def query_name(self, dqs: bool) -> str:
        """The name to ask; KEY_MARK stands for the DQS key, which only the host knows."""
        if dqs and self.dqs_zone:
            return f"{self.test_point}.{KEY_MARK}.{self.dqs_zone}"
        return f"{self.test_point}.{self.zone}"

    def shown(self, dqs: bool) -> str:
        return self.query_name(dqs).replace(KEY_MARK, "<key>")


KEY_MARK = "@KEY@"
SPAMHAUS_REFUSED_DQS = (*SPAMHAUS_REFUSED, "127.255.255.250")  # 250: the DQS key is not valid
# The lists rspamd's rbl module asks by default (modules.d/rbl.conf), with their test points.
BLOCKLISTS = (
    Blocklist("zen.spamhaus.org", "2.0.0.127", SPAMHAUS_REFUSED_DQS, "zen.dq.spamhaus.net", lists_senders=True),
    Blocklist("dbl.spamhaus.org", "dbltest.com", SPAMHAUS_REFUSED_DQS, "dbl.dq.spamhaus.net"),
    Blocklist("multi.uribl.com", "test.uribl.com", ("127.0.0.1",)),
    Blocklist("multi.surbl.org", "test.surbl.org", ("127.0.0.1",)),
    Blocklist("bl.spameatingmonkey.net", "2.0.0.127", (), lists_senders=True),
    Blocklist("list.dnswl.org", "2.0.0.127", ("127.0.0.255",)),
)

OK, BLOCKED, NO_ANSWER, WRONG = "ok", "blocked (resolver refused)", "no answer", "wrong answer"

# Run on the host by bash: SERVER PORT RBL_CONF NAME...; prints "@@dnsbl N rcode=R A..." per name
# (or "none"), then "@@dnsbl resolver SERVER". The queries are built, sent (all at once, 3 s
# each at most) and read on the host, so that a DQS key, read from rspamd's rbl.conf there,
# never leaves it: not in this command, not in its output. An empty SERVER: the system's first
# nameserver.
PROBE = r"""
server=$1 port=$2 conf=$3; shift 3
[ -n "$server" ] || server=$(awk '/^nameserver/ {print $2; exit}' /etc/resolv.conf)
key=$(sed -n 's/.*"\([a-z0-9]\{26\}\)\.zen\.dq\.spamhaus\.net".*/\1/p' "$conf" 2>/dev/null | head -n 1)
query() {
    printf "\\x$(printf %02x "$(($1 / 256))")\\x$(printf %02x "$(($1 % 256))")"
    printf '\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00'
    local IFS=. label
    for label in $2; do printf "\\x$(printf %02x ${#label})%s" "$label"; done
    printf '\x00\x00\x01\x00\x01'
}
parse='{ for (i = 1; i <= NF; i++) b[n++] = $i }
END {
    if (n < 12) { print "none"; exit }
    out = "rcode=" (b[3] % 16); count = b[6] * 256 + b[7]; p = 12
    while (p < n && b[p] != 0) p += b[p] + 1
    p += 5
    for (k = 0; k < count && p < n; k++) {
        if (b[p] >= 192) p += 2; else { while (p < n && b[p] != 0) p += b[p] + 1; p++ }
        type = b[p] * 256 + b[p + 1]; size = b[p + 8] * 256 + b[p + 9]; p += 10
        if (type == 1 && size == 4) out = out " " b[p] "." b[p + 1] "." b[p + 2] "." b[p + 3]
        p += size
    }
    print out
}'
n=0
for name in "$@"; do
    (
        name=${name//@KEY@/$key}
        # One write, one datagram: dd gathers the query's pieces first.
        answer=$(exec 3<>"/dev/udp/$server/$port" &&
            query $((n + 4097)) "$name" | dd bs=4096 count=1 iflag=fullblock 2>/dev/null >&3 &&
            timeout 3 dd bs=4096 count=1 <&3 2>/dev/null | od -An -tu1 -v | awk "$parse")
        printf '@@dnsbl %s %s\n' "$n" "${answer:-none}"
    ) &
    n=$((n + 1))
done
wait
echo "@@dnsbl resolver $server"
"""


def classify(blocklist: Blocklist, answer: str | None) -> tuple[str, str]:
    """(status, what was answered) from the probe's "rcode=R A..." line for the test query."""
    if not answer or not answer.startswith("rcode="):
        return NO_ANSWER, "no response"
    rcode, *addresses = answer.split()
    code = int(rcode.removeprefix("rcode="))
    if code != 0:
        import dns.rcode  # (only for an answer that is an error: dnspython costs 6 ms to import)

        return NO_ANSWER, dns.rcode.to_text(dns.rcode.Rcode.make(code))
    if not addresses:
        return NO_ANSWER, "no address"
    shown = ", ".join(sorted(set(addresses)))
    if any(a in blocklist.refused for a in addresses):
        return BLOCKED, shown
    if not all(ipaddress.ip_address(a) in LISTED for a in addresses):
        return WRONG, shown
    return OK, shown


def report(results: list[tuple[Blocklist, str, str]], resolver: str, system_resolver: bool, dqs: bool = False) -> str:
    lines = [f"Blocklists, asked for their test points through rspamd's resolver ({resolver}):"]
    for blocklist, status, detail in results:
        lines.append(f"  {status:<27} {blocklist.zone} ({blocklist.shown(dqs)}: {detail})")
    blocked = [b.zone for b, status, _ in results if status == BLOCKED]
    if blocked and system_resolver:
        lines.append(
            f"  {', '.join(blocked)} refuse the system's resolver, a shared or public one: "
            'set resolver = "local" so that rspamd asks its own'
        )
    elif blocked:
        lines.append(
            f"  {', '.join(blocked)} refuse this server's own resolver: its address is over the lists' free "
            "limits or listed as a public resolver; their data feeds (Spamhaus DQS) need a key"
        )
    ok = sum(status == OK for _, status, _ in results)
    lines.append(f"  {ok} of {len(results)} lists answer")
    return "\n".join(lines)
