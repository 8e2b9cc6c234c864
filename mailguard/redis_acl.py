"""A group's Redis users (issue #37): each client of the group's Redis gets only the commands it
needs, and no user may run CONFIG, MODULE, DEBUG or any other administrative command. Every host of
the group holds the same users (a replica's own Redis serves its rspamd's reads, and any host may
be the primary later).

The group's one secret (REDIS_REPLICATION_PASSWORD) never reaches Redis itself: each user's
password is derived from it (HMAC-SHA256 with the user's name), the same on every host.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from .layout import MANAGED_MARK

REPLICA = "mailguard-replica"  # a replica's link to the primary (masteruser)
RSPAMD = "mailguard-rspamd"  # rspamd's reads and writes: Bayes, greylisting, fuzzy hashes, history, DMARC reports
ADMIN = "mailguard-admin"  # the deploy's own reads, status.py and backup.py's dump (on the host only)
SENTINEL = "mailguard-sentinel"  # a group's sentinels (mailguard/sentinel.py): watching, and a failover

# Redis's ACL rules for each (https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/).
# rspamd's: every data command, none of @admin (CONFIG, DEBUG, MODULE, ACL, REPLICAOF, SHUTDOWN...)
# nor of @dangerous but KEYS (lua_stat's scripts call it) and INFO.
RIGHTS = {
    REPLICA: "+psync +replconf +ping",
    RSPAMD: "~* &* +@all -@admin -@dangerous +keys +info",
    ADMIN: "~* +ping +info +dbsize +smembers +hget +sync +psync +replconf",
    # What Redis's Sentinel documentation lists for its user. Its CONFIG REWRITE (sent with each
    # REPLICAOF) fails by design: redis.conf is read-only to Redis in such a group (operations/redis.py).
    SENTINEL: (
        "&__sentinel__:hello -@all +multi +exec +slaveof +replicaof +ping +subscribe +publish +info +role "
        "+config|rewrite +client|setname +client|kill +script|kill"
    ),
}


def password(secret: str, user: str) -> str:
    """``user``'s password, derived from the group's secret (43 characters of base64url)."""
    digest = hmac.new(secret.encode(), f"mailguard redis {user}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def hashed(secret: str, user: str) -> str:
    """The ACL form of ``user``'s password that Redis checks against: its SHA-256, never the text."""
    return "#" + hashlib.sha256(password(secret, user).encode()).hexdigest()


def auth_text(
    secret: str,
    username_sent: bool,
    replica_of: tuple[str, int] | None = None,
    announce: tuple[str, int] | None = None,
) -> str:
    """The file redis.conf includes on every host of a group: the users, and how this Redis
    replicates. ``username_sent``: whether this host's rspamd authenticates with a user name
    (rspamd 3.12 and later); an older one logs in as Redis's default user, which then has rspamd's
    rights and password, and otherwise is off.

    ``replica_of``: where a replica of a group with a fixed primary replicates from. ``announce``:
    in a group whose sentinels choose the primary, the address this Redis is known by; none says
    whose replica it is (the sentinels do, at run time), and any host may become one."""
    users = [REPLICA, RSPAMD, ADMIN] + ([SENTINEL] if announce else [])
    lines = [f"{MANAGED_MARK} (pyinfra): the group's Redis users; root and Redis only."]
    lines += [f"user {user} reset on {hashed(secret, user)} {RIGHTS[user]}" for user in users]
    if username_sent:
        lines.append("user default reset off")
    else:
        lines.append(f"user default reset on {hashed(secret, RSPAMD)} {RIGHTS[RSPAMD]}")
    if replica_of is not None:
        lines.append(f"replicaof {replica_of[0]} {replica_of[1]}")
    if announce is not None:
        lines += [f"replica-announce-ip {announce[0]}", f"replica-announce-port {announce[1]}"]
    if replica_of is not None or announce is not None:
        lines += ["replica-read-only yes", f"masteruser {REPLICA}", f"masterauth {password(secret, REPLICA)}"]
    return "\n".join(lines) + "\n"


def client_text(secret: str) -> str:
    """The deploy's own credentials on the host (layout.REDIS_CLIENT_AUTH, root only): the user's
    name on the first line, its password on the second, as the tools read them."""
    return f"{ADMIN}\n{password(secret, ADMIN)}\n"
