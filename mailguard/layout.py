"""Where things are on the host and how its services reach each other, written once.

Paths that differ between systems are fields of ``platforms.Platform``; everything here is the
same on every system. Templates and the tool scripts receive these as variables.
"""

from __future__ import annotations

RSPAMD_CONF_DIR = "/etc/rspamd"  # the same on every system

# rspamd's workers, all on loopback (worker-proxy.inc, worker-normal.inc, worker-controller.inc).
MILTER_PORT = 11332
NORMAL_PORT = 11333
CONTROLLER_PORT = 11334
CONTROLLER_BIND = f"localhost:{CONTROLLER_PORT}"
CONTROLLER_ADDRESS = f"127.0.0.1:{CONTROLLER_PORT}"  # what a proxy on this host connects to
POSTFIX_MILTER = f"inet:localhost:{MILTER_PORT}"
WEBUI_PATH = "/rspamd/"  # where a reverse proxy (webui_proxy) publishes the controller's web UI

# rspamd's own recursive resolver (unbound): a loopback address of its own on the DNS port, so it
# takes no address another resolver may hold (127.0.0.1, systemd-resolved's 127.0.0.53), and
# SELinux's dns_port_t already covers it.
RESOLVER_ADDRESS = "127.0.0.153"
RESOLVER_PORT = 53
RESOLVER_CONF = "mailguard-rspamd.conf"  # the drop-in in unbound's conf.d

# Learning from what users file as spam or ham: Dovecot's IMAPSieve pipes the message to a script
# service (run as rspamd's user) that reaches rspamd's controller on a unix socket only rspamd's
# user may open. A unix-socket client needs no password, so none is in any file.
LEARN_SOCKET = "/run/rspamd/mailguard-learn.sock"  # rspamd's RuntimeDirectory
LEARN_SERVICE = "mailguard-learn"  # Dovecot's script service, its socket directory under base_dir
LEARN_PROGRAM = "learn"  # the name Sieve's pipe calls: the socket in that directory
# The one group that may open that socket: Dovecot's imap processes (which run the Sieve pipe as
# each mail user) get it through mail_access_groups; no other local user has it.
LEARN_GROUP = "mailguard-learn"
SIEVE_DIR = "/etc/dovecot/sieve/mailguard"  # global scripts, compiled there by sievec
DOVECOT_CONF = "90-mailguard-learning.conf"  # in the platform's conf.d
SIEVE_SCRIPTS = ("junk", "learn-spam", "learn-ham")  # <name>.sieve, from templates/dovecot/<name>.sieve.j2

# With replication (redis_primary), Redis's password lives in a file of its own, included by
# redis.conf: the deploy reads redis.conf's text, and what it reads may be printed (-vvv).
REDIS_AUTH_CONF = "/etc/redis/mailguard-auth.conf"
# In a group, the Redis user the deploy's own tools log in as (redis_acl.ADMIN): its name on the
# first line, its password on the second. Root only; absent where Redis has no users.
REDIS_CLIENT_AUTH = "/etc/redis/mailguard-client"

# A group's fence: nftables rules in a table of their own that admit the group's Redis port from
# the group's hosts only, loaded at boot (before Redis) by a unit of their own.
# The deploy's own systemd units (the DMARC reports' timer, the fence, the tunnel) are written here.
UNIT_DIR = "/etc/systemd/system"
FENCE_RULES = "/etc/mailguard-fence.nft"
FENCE_UNIT = "mailguard-fence.service"
# A group's Redis traffic between hosts goes through a TLS tunnel (stunnel) of the deploy's own:
# on the primary from its private_address, port 6379, to Redis's socket; on every other host from
# 127.0.0.1, TUNNEL_PORT, to the primary. Its key is the group's (group_tls.py).
TUNNEL_DIR = "/etc/mailguard-tunnel"
TUNNEL_CONF = f"{TUNNEL_DIR}/stunnel.conf"
TUNNEL_CERT = f"{TUNNEL_DIR}/group.crt"
TUNNEL_KEY = f"{TUNNEL_DIR}/group.key"  # root only; systemd hands it to stunnel (LoadCredential)
TUNNEL_UNIT = "mailguard-tunnel.service"
TUNNEL_HOST, TUNNEL_PORT = "127.0.0.1", 6380  # a replica's end: its Redis and its rspamd reach the primary there
# A group whose sentinels choose the primary (mailguard/sentinel.py): the deploy writes the
# sentinel's starting configuration (root and Redis only: it holds passwords) and puts it in
# SENTINEL_DIR, the sentinel's own, where the sentinel rewrites it as it learns.
SENTINEL_SEED = "/etc/redis/mailguard-sentinel.conf"
SENTINEL_DIR = "/var/lib/mailguard-sentinel"
SENTINEL_CONF = f"{SENTINEL_DIR}/sentinel.conf"
SENTINEL_UNIT = "mailguard-sentinel.service"
# In such a group Redis may not rewrite redis.conf (a drop-in for its unit makes it read-only):
# each REPLICAOF a sentinel sends comes with a CONFIG REWRITE, which would copy the users of
# REDIS_AUTH_CONF into redis.conf, where Redis refuses them as duplicates at its next start.
REDIS_DROP_IN = "mailguard-read-only-config.conf"

# The deploy's own scripts and their stores.
TOOLS_DIR = "/usr/local/sbin"
STATE_DIR = "/var/lib/mailguard"  # root only
PENDING_DIR = f"{STATE_DIR}/pending"  # a marker per service whose configuration changed
STAGING_DIR = f"{STATE_DIR}/staging"  # where files are uploaded before they go in place
LAST_GOOD_DIR = f"{STATE_DIR}/last-good"  # the files each running service loaded, until activation
# Which key each domain signs with once dkim_rotate.py has begun (absent: the settings' selector).
DKIM_STATE = f"{STATE_DIR}/dkim-keys"
RSPAMD_RELEASE = f"{STATE_DIR}/rspamd-release"  # the rspamd version the last run configured
RETIRED_DKIM_DIR = f"{STATE_DIR}/retired-dkim"  # keys a rotation replaced: kept, never deleted
# backup.py's archive while it is made and fetched, and restore.py's files on their way in
BACKUP_DIR = f"{STATE_DIR}/backup"
# What the host had before the deploy first replaced or edited it (an admin's own files): kept, never
# deleted; remove.py puts each back and moves the copies into its removal's directory.
ORIGINALS_DIR = f"{STATE_DIR}/originals"
# remove.py's records (mailguard/footprint.py): what each run wrote, and what the first run found
FOOTPRINT = f"{STATE_DIR}/footprint.json"
BEFORE = f"{STATE_DIR}/before.json"
# what remove.py took away (the deploy's files, the originals it put back, the records), one
# directory per removal, and the record that the host has been given back
REMOVED_DIR = f"{STATE_DIR}/removed"
REMOVED = f"{STATE_DIR}/removed.json"
# learn.py's own record of the messages it taught (class and SHA-256 of each): a rerun skips them
# without asking rspamd, whose learn cache on 3.4 does not always know a message it learned.
LEARNED_RECORD = f"{STATE_DIR}/learned"
# The first line of every file the deploy writes whole: a file without it is the admin's.
MANAGED_MARK = "# Managed by mailguard"

RSPAMD_CHECK = f"{TOOLS_DIR}/mailguard-rspamd-check"
STASH = f"{TOOLS_DIR}/mailguard-stash"
ROLLBACK = f"{TOOLS_DIR}/mailguard-rollback"
HOLD_MAIL = f"{TOOLS_DIR}/mailguard-hold-mail"
KEEP_ORIGINAL = f"{TOOLS_DIR}/mailguard-keep-original"
LEARN = f"{TOOLS_DIR}/mailguard-learn"  # what Dovecot's script service runs
LEARN_MAILBOX = f"{TOOLS_DIR}/mailguard-learn-mailbox"  # learn.py: a user's existing mail
PRIMARY_HERE = f"{TOOLS_DIR}/mailguard-primary-here"  # whether this host's Redis is the group's primary
# The longest Postfix may defer mail for a restart: 30 s for open sessions, the restart, 120 s
# for rspamd to answer, and room to spare. After it, a timer on the host ends the hold itself.
HOLD_BOUND_SECONDS = 210
# Every Postfix program reads main.cf again, 0.3 s apart, until the file is two seconds old
# (Postfix's util/load_file.c: a file that changed just now may still be being written). After
# postconf -e has written it whole (renamed into place), its time is set back by this much, so
# that the reload or postconf after it reads it at once. Not in mailguard-hold-mail: there the
# 2 s before the reload also covers the smtpd sessions begun just before it (see docs/safety.md).
MAIN_CF_SETTLED_SECONDS = 2
# host path -> template under templates/tools/
TOOLS = {
    RSPAMD_CHECK: "rspamd-check.sh.j2",
    STASH: "stash.sh.j2",
    ROLLBACK: "rollback.sh.j2",
    HOLD_MAIL: "hold-mail.sh.j2",
    KEEP_ORIGINAL: "keep-original.sh.j2",
    PRIMARY_HERE: "primary-here.sh",
}


def last_good(service: str) -> str:
    return f"{LAST_GOOD_DIR}/{service}"


def original(path: str) -> str:
    """Where the admin's own version of ``path`` is kept."""
    return f"{ORIGINALS_DIR}{path}"


def dkim_dir(db_dir: str) -> str:
    return f"{db_dir}/dkim"


def dkim_key_path(db_dir: str, domain: str, selector: str) -> str:
    """rspamd's own default (``${DBDIR}/dkim/$domain.$selector.key``), where the seed's wizard puts keys."""
    return f"{dkim_dir(db_dir)}/{domain}.{selector}.key"


def tools_context() -> dict[str, object]:
    """The variables every tool script is rendered with."""
    return {
        "milter_port": MILTER_PORT,
        "normal_port": NORMAL_PORT,
        "controller_port": CONTROLLER_PORT,
        "last_good_dir": LAST_GOOD_DIR,
        "originals_dir": ORIGINALS_DIR,
        "hold_bound_seconds": HOLD_BOUND_SECONDS,
        "workers_file": f"{STATE_DIR}/rspamd-workers",  # the workers a passed check saw
    }
