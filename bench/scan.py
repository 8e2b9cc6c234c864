"""Run on the booted host by bench/quality.py (python3, the standard library only): every message
under a directory scanned, side by side, and one JSON line per message printed.

    python3 scan.py rspamd DIR   rspamd's /checkv2 on its normal worker, as from an outside client:
                                 {"name", "score", "symbols": {name: score}}
    python3 scan.py spamc DIR    SpamAssassin through spamd (spamc -R): {"name", "score", "symbols": {}}
"""

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import urllib.request

CLIENT = "203.0.113.5"  # outside every list (sandbox.probes.EXTERNAL_CLIENT)
RSPAMD = "http://127.0.0.1:11333/checkv2"
# What the bench cannot give a message, left out of its score: the results of lookups that fail on a
# host with no network (no PTR for the client, senders' domains and the HELO name that do not
# resolve: RDNS_NONE and the hfilter group), the corpus's age (its Date: headers are of 2002:
# DATE_IN_PAST), and greylisting (every message comes from one client to one recipient: one
# greylisted message would cut the scan of the next short, and the bench judges scores, not
# delivery). Everything else the deploy configures scores as it does for real mail.
SETTINGS = (
    '{"groups_disabled": ["hfilter"], '
    '"symbols_disabled": ["RDNS_NONE", "DATE_IN_PAST", "GREYLIST_CHECK", "GREYLIST_SAVE"]}'
)
HEADERS = {"IP": CLIENT, "Helo": "mail.outside.example", "Rcpt": "quality@example.com", "Settings": SETTINGS}


def rspamd(path):
    with open(path, "rb") as message:
        request = urllib.request.Request(RSPAMD, data=message.read(), headers=HEADERS)
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
