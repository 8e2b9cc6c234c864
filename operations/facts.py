"""The one fact asked before anything else: what system this is and what it can bear.

Everything the deploy manages is read through ``hoststate`` instead (one command for all).
"""

from __future__ import annotations

import base64
import shlex

from pyinfra.api import FactBase

from mailguard.layout import REDIS_CLI_AUTH
from mailguard.opendkim import CONF as OPENDKIM_CONF

from . import hoststate


class SystemProfile(FactBase):
    """os-release, machine, Postfix, Dovecot, memory, swap, free disk, SELinux and whether ``paths`` exist,
    in one command."""

    default = dict

    # After this line: the state read's answers to ``wants`` (hoststate), asked in the same command.
    STATE = "@@mailguard-state"

    def command(self, disk_path="/var", paths=(), texts=(), password_files=(), key_dirs=(), redis_socket="", wants=()):
        # A sha256 of each DKIM key (regular files only): several hosts of a run must hold the same.
        keys = "".join(
            f"find {shlex.quote(d)} -maxdepth 1 -type f -name '*.key' -exec sha256sum -- {{}} + 2>/dev/null "
            "| sed 's/^/dkimkey=/'; "
            for d in key_dirs
        )
        # A host about to become a Redis replica: whether its Redis is one already, and what it holds.
        redis = (
            f'echo "redis_keys=$({hoststate.snippet("dbsize", redis_socket)})"; '
            f'echo "redis_role=$({REDIS_CLI_AUTH}redis-cli -s {shlex.quote(redis_socket)} info replication '
            "2>/dev/null | tr -d '\\r' | sed -n 's/^role://p')\"; "
            if redis_socket
            else ""
        )
        exists = "".join(f"; if [ -e {shlex.quote(p)} ]; then echo exists={shlex.quote(p)}; fi" for p in paths)
        # Files read whole (never secrets: the DKIM signing configuration an admin may already have).
        for path in map(shlex.quote, texts):
            exists += f"; if [ -f {path} ]; then printf 'text=%s ' {path}; base64 -w0 -- {path}; echo; fi"
        # OpenDKIM's KeyTable and SigningTable, where its configuration names them (plain or refile:)
        tables = (
            f'if [ -f {OPENDKIM_CONF} ]; then for t in $(awk \'tolower($1) == "keytable" || '
            f'tolower($1) == "signingtable" {{sub(/^(re)?file:/, "", $2); print $2}}\' {OPENDKIM_CONF}); do '
            """if [ -f "$t" ] && [ ! -L "$t" ]; then printf 'text=%s ' "$t"; base64 -w0 -- "$t"; echo; fi; done; fi; """
        )
        # The controller's stored password hashes (salt and a digest, never the hash): checked against
        # the passwords (PBKDF2, about 10 ms each) once the plan is whole, not read again later.
        hashes = "".join(f"{{ {hoststate.snippet('pwhash', p)}; }} | sed 's/^/pwhash=/'; " for p in password_files)
        profile = (
            tables + redis + keys + hashes + '( . /etc/os-release 2>/dev/null; echo "ID=$ID"; echo "ID_LIKE=$ID_LIKE"; '
            'echo "VERSION_ID=$VERSION_ID"; '
            'echo "NAME=$NAME" ); echo "arch=$(uname -m)"; '
            'echo "postfix=$(command -v postfix || true)"; '
            'awk \'/^MemTotal:/ {print "mem_kib=" $2} /^SwapTotal:/ {print "swap_kib=" $2}\' /proc/meminfo; '
            f"echo \"disk_free_kib=$(df -Pk {disk_path} 2>/dev/null | awk 'NR==2 {{print $4}}')\"; "
            'echo "selinux=$(getenforce 2>/dev/null || echo absent)"; '
            # Dovecot, when there is one: its version, and (2.3) the two settings its Junk filing and
            # learning would take, should an admin's own configuration use them already.
            "if command -v dovecot >/dev/null; then "
            "echo \"dovecot=$(dovecot --version 2>/dev/null | cut -d' ' -f1)\"; "
            'echo "dovecot_sieve_before=$(doveconf -h plugin/sieve_before 2>/dev/null)"; '
            'echo "dovecot_imapsieve_mailbox1=$(doveconf -h plugin/imapsieve_mailbox1_name 2>/dev/null)"; '
            # 2.3 cannot add to a plugin setting ($sieve_plugins is unknown): ours are merged with these
            'echo "dovecot_sieve_plugins=$(doveconf -h plugin/sieve_plugins 2>/dev/null)"; '
            'echo "dovecot_sieve_global_extensions=$(doveconf -h plugin/sieve_global_extensions 2>/dev/null)"; fi'
        ) + exists
        if not wants:
            return profile
        # Side by side: the profile (about 30 ms on the host, one step after another) in the
        # background while the state read runs its own parts; printed in this order once both ended.
        return (
            f'p=$(mktemp) && s=$(mktemp) && {{ {{ {profile}; }} > "$p" 2>/dev/null & '
            f'{{ {hoststate.HostState().command(list(wants))}; }} > "$s"; wait; '
            f'cat "$p"; echo {self.STATE}; cat "$s"; rm -f "$p" "$s"; }}'
        )

    def process(self, output):
        output = list(output)
        split = output.index(self.STATE) if self.STATE in output else len(output)
        output, state_lines = output[:split], output[split + 1 :]
        values = dict(
            line.split("=", 1)
            for line in output
            if "=" in line and not line.startswith(("exists=", "text=", "pwhash=", "dkimkey="))
        )
        values["pwhashes"] = {
            words[0]: (words[1], words[2])
            for words in (line[len("pwhash=") :].split() for line in output if line.startswith("pwhash="))
            if len(words) == 3
        }
        values["dkim_keys"] = {  # path -> sha256
            path: digest
            for digest, _, path in (
                line[len("dkimkey=") :].partition("  ") for line in output if line.startswith("dkimkey=")
            )
            if path
        }
        values["exists"] = {line.split("=", 1)[1] for line in output if line.startswith("exists=")}
        values["texts"] = {
            path: base64.b64decode(data).decode("utf-8", "replace")
            for path, _, data in (line[len("text=") :].partition(" ") for line in output if line.startswith("text="))
        }
        for key in ("mem_kib", "swap_kib", "disk_free_kib", "redis_keys"):
            values[key] = int(values[key]) if values.get(key, "").isdigit() else None
        values["state"] = hoststate.HostState().process(state_lines)
        return values


class Mailboxes(FactBase):
    """Per Dovecot user: messages in ``junk`` and in INBOX; and whether rspamd's learning socket is there."""

    default = dict

    def command(self, junk: str, socket: str):
        count = 'doveadm search -u "$user" mailbox {box} ALL 2>/dev/null | wc -l'
        return (
            f"[ -S {shlex.quote(socket)} ] && echo socket; "
            "doveadm user '*' 2>/dev/null | while read -r user; do "
            f'echo "user $user $({count.format(box=shlex.quote(junk))}) $({count.format(box="INBOX")})"; done'
        )

    def process(self, output):
        found: dict = {"socket": False, "users": {}}
        for line in output:
            words = line.split()
            if words == ["socket"]:
                found["socket"] = True
            elif len(words) == 4 and words[0] == "user" and words[2].isdigit() and words[3].isdigit():
                found["users"][words[1]] = (int(words[2]), int(words[3]))
        return found
