"""The rspamd files the deploy owns, relative to /etc/rspamd, and the map files it seeds."""

# relative path -> template under templates/rspamd/ (worker-controller.inc is written apart:
# it carries password hashes)
TEMPLATED = (
    "local.d/redis.conf",
    "local.d/dkim_signing.conf",
    "local.d/arc.conf",
    "local.d/dmarc.conf",
    "local.d/antivirus.conf",
    "local.d/phishing.conf",
    "local.d/multimap.conf",
    "local.d/milter_headers.conf",
    "override.d/actions.conf",
)
CONTROLLER = "local.d/worker-controller.inc"

# The web UI saves a map by writing a temporary file beside it and renaming it, so the
# maps live in a directory _rspamd may write (owning the files, as the seed does, is not enough).
MAPS_DIR = "local.d/maps.d"
# map file (under MAPS_DIR) -> the setting whose entries it must contain
MAPS = {
    "whitelist_ip.map": "whitelist_ip",
    "whitelist_sender_domain.map": "whitelist_sender_domain",
    "whitelist_sender_email.map": "whitelist_sender_email",
    "blacklist_sender_domain.map": "blacklist_sender_domain",
    "blacklist_sender_domain_multi.map": "blacklist_sender_domain_multi",
    "blacklist_sender_email.map": "blacklist_sender_email",
}
ANTIVIRUS_WHITELIST = "local.d/antivirus.wl"

MANAGED = frozenset(TEMPLATED) | {CONTROLLER, ANTIVIRUS_WHITELIST} | {f"{MAPS_DIR}/{m}" for m in MAPS}


def needs_restart(relative_path: str) -> bool:
    """Worker files change sockets and workers: a reload with a changed socket kills rspamd 3.4."""
    return relative_path.rsplit("/", 1)[-1].startswith("worker-")
