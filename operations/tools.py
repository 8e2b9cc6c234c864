"""Where the deploy's own scripts live on the host (templates/tools/), and their stores."""

TOOLS_DIR = "/usr/local/sbin"
RSPAMD_CHECK = f"{TOOLS_DIR}/mailguard-rspamd-check"
STASH = f"{TOOLS_DIR}/mailguard-stash"
ROLLBACK = f"{TOOLS_DIR}/mailguard-rollback"
HOLD_MAIL = f"{TOOLS_DIR}/mailguard-hold-mail"
# host path -> template under templates/tools/
TOOLS = {RSPAMD_CHECK: "rspamd-check.sh", STASH: "stash.sh", ROLLBACK: "rollback.sh", HOLD_MAIL: "hold-mail.sh"}

PENDING_DIR = "/var/lib/mailguard/pending"
LAST_GOOD_DIR = "/var/lib/mailguard/last-good"


def last_good(service: str) -> str:
    return f"{LAST_GOOD_DIR}/{service}"
