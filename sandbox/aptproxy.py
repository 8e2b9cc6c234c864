"""The several-host sandbox's way to Debian's archive: an HTTP proxy for apt on the test network.

The hosts reach nothing but the test network; apt asks this proxy (on this machine's address
there), which fetches from the archive. Packages (pool/, never changed once published) are kept
in the sandbox cache, so three hosts and later runs fetch each one once.

    python -m sandbox.aptproxy ADDRESS PORT CACHE_DIR
"""

from __future__ import annotations

import hashlib
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORT = 3142
ALLOWED = ("http://deb.debian.org/", "http://security.debian.org/")


def handler_for(cache: Path):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            url = self.path
            if not url.startswith(ALLOWED):
                self.send_error(403, "only Debian's archive")
                return
            kept = cache / hashlib.sha256(url.encode()).hexdigest() if "/pool/" in url else None
            if kept is not None and kept.exists():
                self._send(kept.read_bytes())
                return
            try:
                with urllib.request.urlopen(url, timeout=60) as answer:
                    data = answer.read()
            except urllib.error.HTTPError as error:
                self.send_error(error.code)
                return
            except OSError:
                self.send_error(502)
                return
            if kept is not None:
                partial = kept.with_suffix(".part")
                partial.write_bytes(data)
                partial.replace(kept)
            self._send(data)

        def _send(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main(argv: list[str]) -> int:
    address, port, cache = argv[0], int(argv[1]), Path(argv[2])
    cache.mkdir(parents=True, exist_ok=True)
    for partial in cache.glob("*.part"):
        partial.unlink()
    ThreadingHTTPServer((address, port), handler_for(cache)).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
