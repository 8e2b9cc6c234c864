"""The rspamd files the deploy owns, relative to /etc/rspamd, and the multimap lists it seeds."""

from __future__ import annotations

from dataclasses import dataclass

# relative path -> template under templates/rspamd/ (worker-controller.inc is written apart:
# it carries password hashes)
TEMPLATED = (
    "local.d/dkim_signing.conf",
    "local.d/arc.conf",
    "local.d/dmarc.conf",
    "local.d/antivirus.conf",
    "local.d/phishing.conf",
    "local.d/multimap.conf",
    "local.d/milter_headers.conf",
    "local.d/composites.conf",
    "local.d/greylist.conf",
    "local.d/classifier-bayes.conf",
    "local.d/fuzzy_check.conf",
    "local.d/fuzzy_group.conf",
    "local.d/statistics_group.conf",
    "local.d/hfilter_group.conf",
    "local.d/url_suspect.conf",
    "local.d/worker-fuzzy.inc",
    "override.d/options.inc",
    "override.d/actions.conf",
)
# Bayes reads the words of a few headers: a Lua file, which rspamd reads from 3.11 on (3.4 has no
# lua.local.d): written where the installed rspamd reads it (templated())
BAYES_HEADER_WORDS = "lua.local.d/mailguard_bayes_headers.lua"
LUA_LOCAL = (BAYES_HEADER_WORDS,)


def templated(reads_lua_local_d: bool) -> tuple[str, ...]:
    """The templated files the deploy writes, for an rspamd that does or does not read lua.local.d."""
    return TEMPLATED + LUA_LOCAL if reads_lua_local_d else TEMPLATED


CONTROLLER = "local.d/worker-controller.inc"
RBL = "local.d/rbl.conf"  # written apart too: with a Spamhaus DQS key, it holds the key
REDIS = "local.d/redis.conf"  # and this one: in a group of MX hosts, it holds Redis's password

# The host's own fuzzy storage (local_fuzzy): the flag its hashes carry, and the weight each filed
# message adds (a hash filed once scores most of LOCAL_FUZZY_DENIED's weight).
FUZZY_FLAG = 11
FUZZY_WEIGHT = 20
FUZZY_PORT = 11335  # rspamd's fuzzy worker, on loopback
FUZZY_DENIED_SCORE = 12.0  # LOCAL_FUZZY_DENIED's weight: rspamd's own for FUZZY_DENIED
# what the templates that write or feed it are rendered with
FUZZY_CONTEXT = {
    "fuzzy_port": FUZZY_PORT,
    "fuzzy_flag": FUZZY_FLAG,
    "fuzzy_weight": FUZZY_WEIGHT,
    "fuzzy_denied_score": FUZZY_DENIED_SCORE,
}

# BAYES_SPAM's weight: a little above add_header, so that Bayes at full certainty tags by itself
# past rspamd's small signs of ordinary mail, which together take up to 0.41 off (MIME_GOOD up to
# -0.2, MAILLIST up to -0.2, HAS_LIST_UNSUB -0.01, as the quality bench's scans show).
BAYES_SPAM_MARGIN = 0.5


def bayes_spam_weight(add_header_score: float) -> float:
    return round(add_header_score + BAYES_SPAM_MARGIN, 2)


# HFILTER_HOSTNAME_UNKNOWN's weight: a missing reverse DNS name counted once and a half, not twice
# (local.d/hfilter_group.conf says why; docs/quality.md how it was chosen).
HOSTNAME_UNKNOWN_WEIGHT = 1.0


# The web UI saves a map by writing a temporary file beside it and renaming it, so the
# maps live in a directory _rspamd may write (owning the files, as the seed does, is not enough).
MAPS_DIR = "local.d/maps.d"


@dataclass(frozen=True)
class Multimap:
    """One of the seed's white- and blacklists: a multimap rule and its map file."""

    symbol: str
    setting: str  # the setting whose entries the map must contain
    type: str  # multimap type: ip, from
    filter: str | None = None  # for "from": which part of the sender
    score: float | None = None
    action: str | None = None  # a pass-through verdict instead of a score
    # A sender whitelist counts only for a sender authenticated for the listed domain: the
    # envelope's domain by SPF, or the From: header's by DMARC (aligned SPF or DKIM).
    authenticated: bool = False

    @property
    def field(self) -> str:
        """What a selector takes from a sender address: addr or domain."""
        return (self.filter or "").split(":")[1]

    @property
    def proofs(self) -> tuple[tuple[str, str, str], ...]:
        """(raw symbol, which sender address, the symbol that authenticates its domain)."""
        return ((f"{self.symbol}_SPF", "smtp", "R_SPF_ALLOW"), (f"{self.symbol}_DMARC", "mime", "DMARC_POLICY_ALLOW"))

    @property
    def file(self) -> str:
        return f"{self.setting}.map"

    @property
    def path(self) -> str:
        """Relative to /etc/rspamd."""
        return f"{MAPS_DIR}/{self.file}"

    @property
    def legacy_path(self) -> str:
        """Where the seed's how-to keeps this list (relative to /etc/rspamd): taken over on the first run."""
        return f"local.d/{self.file}"


MULTIMAPS = (
    Multimap("WHITELIST_IP", "whitelist_ip", "ip", action="accept"),
    Multimap(
        "WHITELIST_SENDER_DOMAIN", "whitelist_sender_domain", "from", "email:domain", score=-20.0, authenticated=True
    ),
    Multimap("WHITELIST_SENDER_EMAIL", "whitelist_sender_email", "from", "email:addr", score=-15.0, authenticated=True),
    Multimap("BLACKLIST_SENDER_DOMAIN", "blacklist_sender_domain", "from", "email:domain", score=20.0),
    Multimap("BLACKLIST_SENDER_DOMAIN_MULTI", "blacklist_sender_domain_multi", "from", "email:domain:tld", score=20.0),
    Multimap("BLACKLIST_SENDER_EMAIL", "blacklist_sender_email", "from", "email:addr", score=30.0),
)

# rspamd releases with a known fault that the configuration cannot work around: version -> fault.
FAULTY_RELEASES = {"4.0.0": "leaks a file descriptor on every milter connection (fixed in 4.0.1): upgrade rspamd"}

# What rspamd counts as this server's own clients (signed, exempt from checks) besides the
# admin's local_networks. rspamd's default adds every private range (RFC 1918, fc00::/7, ...):
# a container bridge, a provider's LAN or a NAT in front would be trusted as the server itself.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1")

# The reject threshold written when reject_score is null (no reject by score, as in the seed): no
# message scores this much, and rspamd evaluates every symbol up to it (see actions.conf.j2).
UNREACHABLE_SCORE = 1000.0

MANAGED = frozenset(templated(True)) | {CONTROLLER, RBL, REDIS} | {m.path for m in MULTIMAPS}


def needs_restart(relative_path: str) -> bool:
    """Worker files change sockets and workers: a reload with a changed socket kills rspamd 3.4.
    options.inc holds the resolver, which rspamd only reads when it starts."""
    name = relative_path.rsplit("/", 1)[-1]
    return name.startswith("worker-") or name == "options.inc"
