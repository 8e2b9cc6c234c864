"""Dovecot on a booted host as an admin would have it: Debian's packages, IMAP and LMTP from
Postfix, Maildir users. Used by the learning tests and the quality bench (bench/quality.py)."""

from __future__ import annotations

import shlex

from sandbox import probes

LMTP = "/var/spool/postfix/private/dovecot-lmtp"

# What an admin's Dovecot has before the deploy (Debian's packages, then local.conf), by series.
ADMIN_CONFIG = {
    "2.3": f"""mail_location = maildir:~/Maildir
protocols = imap lmtp
disable_plaintext_auth = no
protocol lmtp {{
  auth_username_format = %Ln
}}
service lmtp {{
  unix_listener {LMTP} {{
    user = postfix
    group = postfix
    mode = 0600
  }}
}}
""",
    "2.4": f"""mail_driver = maildir
mail_path = ~/Maildir
mail_inbox_path = ~/Maildir
protocols = imap lmtp
auth_allow_cleartext = yes
service lmtp {{
  unix_listener {LMTP} {{
    user = postfix
    group = postfix
    mode = 0600
  }}
}}
""",
}


def install(target: probes.Target, user: str, password: str, *packages: str) -> str:
    """Dovecot (and ``packages``) installed, ``user`` made with ``password`` and delivered to through
    LMTP; returns Dovecot's series ("2.3" or "2.4")."""
    names = " ".join(shlex.quote(p) for p in ("dovecot-imapd", "dovecot-lmtpd", *packages))
    target.sh(
        f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q {names} >/tmp/dovecot-apt.log 2>&1"
        " || { tail -20 /tmp/dovecot-apt.log; exit 1; }"
    )
    version = target.sh("dovecot --version").split()[0]
    series = "2.3" if version.startswith("2.3") else "2.4"
    target.sh(
        f"id {user} >/dev/null 2>&1 || useradd -m -s /usr/sbin/nologin {user}; "
        f"echo {shlex.quote(f'{user}:{password}')} | chpasswd; "
        f"cat > /etc/dovecot/local.conf <<'EOF'\n{ADMIN_CONFIG[series]}EOF\n"
        "systemctl restart dovecot; "
        # texthash: Debian unstable's Postfix has no hash: (Berkeley DB) maps any more
        f"echo '{user}@example.com lmtp:unix:private/dovecot-lmtp' > /etc/postfix/transport; "
        "postconf -e transport_maps=texthash:/etc/postfix/transport; postfix reload"
    )
    return series


def remove_user(target: probes.Target, user: str) -> None:
    target.sh(f"postconf -X transport_maps; postfix reload; rm -f /etc/postfix/transport; userdel -r {user} || true")
