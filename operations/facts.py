"""The one fact asked before anything else: what system this is and what it can bear.

Everything the deploy manages is read through ``hoststate`` instead (one command for all).
"""

from __future__ import annotations

from pyinfra.api import FactBase
from pyinfra.api.host import Host

from mailguard import learning
from mailguard.layout import REDIS_CLIENT_AUTH
from mailguard.opendkim import CONF as OPENDKIM_CONF

from . import readhost
from .commands import Command, script


class SystemProfile:
    """os-release, machine, Postfix, Dovecot, memory, swap, free disk, SELinux, whether ``paths`` exist,
    the text of ``texts``, the controller's password hashes (salt and digest) and each DKIM key's
    sha256, in one command (templates/tools/read-host.sh); with ``wants``, the state read's answers
    to them in the same command. Never printed (readhost.ask)."""

    @staticmethod
    def command(
        disk_path="/var",
        paths=(),
        texts=(),
        password_files=(),
        key_dirs=(),
        redis_socket="",
        sentinel: tuple[str, int, str] | None = None,
        wants=(),
    ) -> tuple[Command, list[tuple[str, list[str]]]]:
        """``sentinel``: (address, port, master name) of the host's sentinel, asked where the primary is."""
        host, port, master = sentinel or ("", 0, "")
        words = ["profile", disk_path, OPENDKIM_CONF, redis_socket, REDIS_CLIENT_AUTH, host, str(port or ""), master]
        for items in (paths, texts, password_files, key_dirs):
            words += [str(len(items)), *items]
        groups = readhost.groups_of(wants) if wants else []
        if groups:
            words += readhost.state_arguments(groups)
        return script("read-host", *words), groups

    @staticmethod
    def process(output, groups) -> dict:
        profile, state_lines = readhost.split_profile(list(output))
        values: dict = {"pwhashes": {}, "dkim_keys": {}, "exists": set(), "texts": {}}
        for line in profile:
            key, sep, value = line.partition("=")
            if not sep:
                raise readhost.ReadError(
                    f"mailguard: the host's profile has a line that is no NAME=VALUE: {key[:40]!r}"
                )
            if key == "exists":
                values["exists"].add(readhost.b64_text(value))
            elif key == "text":
                path, _, data = value.partition(" ")
                values["texts"][readhost.b64_text(path)] = readhost.b64_text(data, errors="replace")
            elif key == "pwhash":
                words = value.split()
                if len(words) == 3:
                    values["pwhashes"][words[0]] = (words[1], words[2])
            elif key == "sentinel_primary":
                values[key] = readhost.b64_text(value)
            elif key == "dkimkeys":  # path -> sha256, from sha256sum's own (escaped) lines
                listing = readhost.b64_text(value)
                for record in listing.splitlines():
                    path, digest = readhost.sha256_line(record)
                    values["dkim_keys"][path] = digest
            else:
                values[key] = value
        for key in ("mem_kib", "swap_kib", "disk_free_kib", "redis_keys"):
            values[key] = int(values[key]) if values.get(key, "").isdigit() else None
        if not groups:
            values["state"] = {}
        elif state_lines is None:
            raise readhost.ReadError("mailguard: the host's profile printed no state answers")
        else:
            values["state"] = readhost.parse_state(state_lines, groups)
        return values


def read_profile(target: Host, **kwargs) -> dict:
    """``SystemProfile`` of ``target``, asked quietly."""
    command, groups = SystemProfile.command(**kwargs)
    return SystemProfile.process(readhost.ask(target, command), groups)


class Mailboxes(FactBase):
    """Per Dovecot user: messages in ``junk`` and in INBOX; and whether rspamd's learning socket is there."""

    default = dict

    def command(self, junk: str, socket: str):
        return script("mailboxes", socket, junk)

    def process(self, output):
        found: dict = {"socket": False, "users": {}, "refused": []}
        for line in output:
            words = line.split()
            if words == ["socket"]:
                found["socket"] = True
            elif len(words) == 4 and words[0] == "user" and words[2].isdigit() and words[3].isdigit():
                user = readhost.b64_text(words[1])
                problem = learning.user_problem(user)
                if problem:
                    found["refused"].append(f"{user!r}: {problem}")
                else:
                    found["users"][user] = (int(words[2]), int(words[3]))
            else:
                raise readhost.ReadError("mailguard: the host's mailbox count has a line of no known form")
        return found
