"""Run on the booted host by bench/quality.py (python3, the standard library only): every message
under a directory scanned, side by side, and one JSON line per message printed.

    python3 scan.py rspamd DIR   rspamd's /checkv2 on its normal worker, as from the client that
                                 handed the message to its receiving MX (relay() below):
                                 {"name", "score", "symbols": {name: score}}
    python3 scan.py spamc DIR    SpamAssassin through spamd (spamc -R): {"name", "score", "symbols": {}}
"""

import concurrent.futures
import email
import ipaddress
import json
import os
import re
import subprocess
import sys
import urllib.request
from email import policy

RSPAMD = "http://127.0.0.1:11333/checkv2"
# Where a message's Received headers name no outside client (mail its receiving MX wrote itself):
# a well-kept outside relay, outside every list (sandbox.probes.EXTERNAL_CLIENT).
DEFAULT_RELAY = {"IP": "203.0.113.5", "Helo": "mail.outside.example", "Hostname": "mail.outside.example"}
# What the bench cannot give a message is left out of its score: lookups that need a network this
# host has not got (whether a HELO name, a sender's domain or a Message-ID's domain resolves: scored
# 0, for disabling a symbol that another check inserts would disable that check whole), the
# corpus's age (its Date: headers are of 2002: DATE_IN_PAST), and greylisting (every message comes
# to one recipient: one greylisted message would cut the scan of the next short, and the bench
# judges scores, not delivery). Everything else the deploy configures scores as it does for real
# mail, the checks of the client's HELO and reverse DNS name among them.
UNANSWERABLE = [
    "HFILTER_HELO_NORESOLVE_MX", "HFILTER_HELO_NORES_A_OR_MX", "HFILTER_HELO_IP_A",
    "HFILTER_FROMHOST_NORESOLVE_MX", "HFILTER_FROMHOST_NORES_A_OR_MX",
    "HFILTER_MID_NORESOLVE_MX", "HFILTER_MID_NORES_A_OR_MX", "RDNS_DNSFAIL",
]  # fmt: skip
SETTINGS = json.dumps(
    {
        "scores": dict.fromkeys(UNANSWERABLE, 0.0),
        "symbols_disabled": ["DATE_IN_PAST", "GREYLIST_CHECK", "GREYLIST_SAVE"],
    }
)
RECIPIENT = "quality@example.com"

_FROM = re.compile(r"^from\s+(?P<name>\S+)\s+(?P<info>\(.*?)\s+by\s", re.I)
_HELO = re.compile(r"\((?:HELO|EHLO)\s+(?P<helo>[^()\s]+)\)|helo=(?P<exim>[^()\s]+)", re.I)
_NAME = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}")  # what a HELO or host name header carries; others are left out
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")


def _outside(address):
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def relay(raw):
    """The client that handed the message to its receiving MX, as that MX recorded it: the newest
    Received header naming an outside address ({"IP", "Helo", "Hostname"}), or None. What a milter
    is given (the client's address, HELO, and its reverse DNS name when that name was confirmed)
    is what the receiving MX wrote down. Hops within a site (private or loopback addresses) and a
    mailbox fetched by POP3 or IMAP are no SMTP client of the MX; a name written before the address
    is the one the MX found for it (sendmail, Postfix, qmail, Exim), and "unknown" or a name marked
    "may be forged" is none."""
    headers = email.message_from_bytes(raw, policy=policy.compat32).get_all("Received") or []
    for value in headers:
        text = " ".join(str(value).split())
        if re.search(r"\bwith\s+(POP3|IMAP)|fetchmail", text, re.I):
            continue
        hop = _FROM.match(text)
        if not hop:
            continue
        name, info = hop.group("name").strip("[]"), hop.group("info")
        addresses = _IPV4.findall(info) or _IPV4.findall(name)
        if not addresses or not _outside(addresses[0]):
            continue
        address = addresses[0]
        said = _HELO.search(text)
        named = re.match(r"\(\s*(?:\S+@)?([A-Za-z0-9._-]+)\s+\[" + re.escape(address) + r"\]", info)
        if named:  # sendmail and Postfix: from HELO (NAME [IP])
            helo, hostname = name, named.group(1)
        elif said:  # qmail and Exim: from NAME (HELO helo) (IP), from NAME ([IP] helo=HELO)
            helo, hostname = said.group("helo") or said.group("exim"), name
        elif re.fullmatch(r"\(\s*" + re.escape(address) + r"\s*\)", info):  # qmail, HELO the same: NAME (IP)
            helo, hostname = name, name
        else:  # from HELO ([IP]): no name found for the address
            helo, hostname = name, None
        if hostname and (hostname.lower() == "unknown" or "may be forged" in info or _IPV4.fullmatch(hostname)):
            hostname = None
        found = {"IP": address}
        if _NAME.fullmatch(helo):
            found["Helo"] = helo
        if hostname and "." in hostname and _NAME.fullmatch(hostname):
            found["Hostname"] = hostname.lower()
        return found
    return None


def rspamd(path):
    with open(path, "rb") as message:
        raw = message.read()
    headers = {**(relay(raw) or DEFAULT_RELAY), "Rcpt": RECIPIENT, "Settings": SETTINGS}
    request = urllib.request.Request(RSPAMD, data=raw, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        result = json.loads(answer.read().decode("utf-8", "replace"))  # (it quotes the message's own bytes)
    symbols = {name: round(s.get("score", 0.0), 3) for name, s in result.get("symbols", {}).items()}
    return {"score": round(result.get("score", 0.0), 3), "symbols": symbols}


def spamc(path):
    with open(path, "rb") as message:
        said = subprocess.run(["spamc", "-R"], stdin=message, capture_output=True, check=False).stdout.decode(
            errors="replace"
        )
    first = said.splitlines()[0] if said else "0/5"
    symbols = {
        m.group(2): float(m.group(1)) for m in re.finditer(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s", said, re.M)
    }
    return {"score": float(first.split("/")[0]), "symbols": symbols}


def main():
    how, top = {"rspamd": rspamd, "spamc": spamc}[sys.argv[1]], sys.argv[2]
    paths = sorted(os.path.join(d, f) for d, _, names in os.walk(top) for f in names)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for path, result in zip(paths, pool.map(how, paths), strict=True):
            print(json.dumps({"name": os.path.relpath(path, top), **result}))


if __name__ == "__main__":
    main()
