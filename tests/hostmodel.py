"""Plan the real deploy.py with pyinfra's engine against a modelled host: facts in, commands out.

A host model is data (tests/hosts/<platform>/<state>.json): os-release, packages, files with
their text, owner and mode, group memberships, units, postconf values. ``HostModel.fact``
answers each fact the deploy asks from that data; nothing connects anywhere. ``plan()`` runs
deploy.py through pyinfra's own operation machinery (names, arguments, change detection) and
returns, per operation, the commands pyinfra would run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import runpy
import shlex
from dataclasses import dataclass, field
from fnmatch import fnmatch
from io import BytesIO, StringIO
from pathlib import Path
from unittest import mock

from pyinfra.api import Config, FileUploadCommand, Inventory, State, StringCommand
from pyinfra.api.state import StateStage
from pyinfra.connectors.util import CommandOutput, OutputLine
from pyinfra.context import ctx_host, ctx_state
from support import public_key_b64

from mailguard import dkim, layout, opendkim
from mailguard.settings import SETTINGS_KEY, Settings
from operations import readhost
from operations.commands import TOOLS_SOURCE, Command, arguments_of

ROOT = Path(__file__).resolve().parent.parent


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogateescape")).decode()


# a tool script's text -> how a command that passes it on (activate.sh's check) shows it
_SCRIPT_NAMES = {path.read_text(): f"<{path.stem}.sh>" for path in TOOLS_SOURCE.glob("*.sh")}


class Planned(str):
    """A planned command as it reads (a script as ``<name>.sh ARGS``), with the words it runs."""

    argv: tuple[str, ...]
    script: str | None

    def __new__(cls, command: Command) -> Planned:
        args = [_SCRIPT_NAMES.get(word, word) for word in arguments_of(command)]
        shown = f"{command.script}.sh {shlex.join(args)}" if command.script else shlex.join(command.argv)
        planned = super().__new__(cls, shown.rstrip())
        planned.argv, planned.script = command.argv, command.script
        return planned

    @property
    def args(self) -> tuple[str, ...]:
        return self.argv[4:] if self.script else self.argv[1:]


HOSTS = Path(__file__).resolve().parent / "hosts"


@dataclass
class HostModel:
    os_id: str
    version_id: str  # "" where os-release has none (Debian unstable)
    packages: list[str]
    files: dict[str, dict]  # path -> {"text" | "text_file", "user", "group", "mode"}
    directories: dict[str, dict] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # user -> groups
    units: dict[str, dict] = field(default_factory=dict)  # unit -> {"running", "enabled"}
    postconf: dict[str, str] = field(default_factory=dict)
    # master.cf: "name/type" -> its -o parameters (smtp/inet is on every host)
    master: dict[str, dict[str, str]] = field(default_factory=lambda: {"smtp/inet": {}})
    commands: list[str] = field(default_factory=list)  # binaries on PATH
    package_files: dict[str, dict] = field(default_factory=dict)  # package -> files it ships
    asked: list[str] = field(default_factory=list)
    asked_kwargs: list[dict] = field(default_factory=list)
    mem_kib: int = 2 * 1024 * 1024
    swap_kib: int = 0
    disk_free_kib: int = 20 * 1024 * 1024
    selinux: str = "Enforcing"
    sebools: dict[str, bool] = field(default_factory=dict)
    id_like: str = ""
    name: str = ""
    arch: str = "x86_64"
    dnf_repos: dict[str, bool] = field(default_factory=dict)  # repo id -> enabled
    firewalld: list[str] | None = None  # the services it allows while it runs; None: not running
    firewalld_rich: list[str] = field(default_factory=list)  # its rich rules
    versions: dict[str, str] = field(default_factory=lambda: {"rspamd": "4.2.1"})  # of installed packages
    # Dovecot's version and its settings as doveconf -h gives them ("plugin/sieve_before"); None: none
    dovecot: dict[str, str] | None = None
    redis_keys: int = 0  # what Redis holds
    system_groups: list[str] = field(default_factory=list)  # groups the deploy may have made
    # Dovecot's users: name -> (messages in the junk folder, in INBOX)
    mailboxes: dict[str, tuple[int, int]] = field(default_factory=dict)
    printed: list[bool] = field(default_factory=list)  # per host read: whether pyinfra was asked to print it

    @classmethod
    def load(cls, platform: str, state: str) -> HostModel:
        folder = HOSTS / platform
        data = json.loads((folder / f"{state}.json").read_text())
        for files in [data["files"], *data.get("package_files", {}).values()]:
            for meta in files.values():
                if "text_file" in meta:
                    meta["text"] = (folder / meta.pop("text_file")).read_text()
        return cls(**data)

    def text(self, path: str) -> str | None:
        """A regular file's content; None for a symbolic link (the deploy never reads through one)."""
        meta = self.files.get(path)
        return None if meta is None or meta.get("link") else meta["text"]

    # One method per fact class the deploy uses: "<module>.<Class>". The model prints what
    # the fact's command would print on such a host, and the fact's own process() parses it.
    def fact(self, cls, kwargs: dict):
        key = f"{cls.__module__.split('.')[-1]}.{cls.__name__}"
        self.asked.append(key)
        self.asked_kwargs.append(kwargs)
        handler = getattr(self, "output_" + cls.__name__, None)
        if handler is None:
            raise KeyError(f"the host model cannot answer fact {key} {kwargs}")
        return cls().process(handler(**kwargs))

    def output_SystemProfile(
        self, paths=(), texts=(), password_files=(), key_dirs=(), redis_socket="", sentinel_host="", wants=()
    ):
        """What read-host.sh's profile prints on such a host (and its state read's, for ``wants``)."""
        exists = [f"exists={_b64(p)}" for p in paths if p in self.files or p in self.directories]
        if sentinel_host:  # no sentinel runs on a model host: no answer
            exists.append("sentinel_primary=")
        if redis_socket and "redis" in " ".join(self.packages):  # a Redis of its own (never a replica here)
            exists += [f"redis_keys={self.redis_keys}", "redis_role=master"]
        keys = [
            f"{hashlib.sha256(self.text(p).encode()).hexdigest()}  {p}\n"
            for d in key_dirs
            for p in sorted(self.files)
            if fnmatch(p, f"{d}/*.key") and "/" not in p[len(d) + 1 :] and self.text(p) is not None
        ]
        conf = self.text(opendkim.CONF)
        if conf is not None:  # the command reads the tables opendkim.conf names
            texts = [*texts, *(opendkim.table_path(d) for d in opendkim.tables(conf).values())]
        exists += [f"text={_b64(p)} {_b64(self.text(p))}" for p in texts if self.text(p) is not None]
        exists += [f"pwhash={line}" for path in password_files for line in self._state_pwhash(path)]
        exists += [f"dkimkeys={_b64(''.join(keys))}"] * bool(key_dirs)
        return (
            exists
            + [
                f"ID={self.os_id}",
                f"ID_LIKE={self.id_like}",
                f"VERSION_ID={self.version_id}",
                f"NAME={self.name}",
                f"arch={self.arch}",
                f"postfix={'/usr/sbin/postfix' if 'postfix' in self.commands else ''}",
                f"mem_kib={self.mem_kib}",
                f"swap_kib={self.swap_kib}",
                f"disk_free_kib={self.disk_free_kib}",
                f"selinux={self.selinux}",
            ]
            + self._dovecot_profile()
            + (self.output_HostState(wants) if wants else [])
        )

    def run_script(self, name: str, args: tuple[str, ...], op_name: str) -> None:
        """A templates/tools script, as its header says it acts (the checks pass here)."""
        if name == "files" and args[0] == "stage":
            self.directories.setdefault(args[1], {"user": "root", "group": "root", "mode": 700})
            self.files[args[2]] = {"text": "", "user": "root", "group": "root", "mode": 600}
        elif name == "files" and args[0] == "copy":
            self.files[args[2]] = {**self.files[args[1]], "user": "root", "group": "root", "mode": 600}
        elif name == "files" and args[0] == "place":
            _, staged, path, owner, mode, how = args
            user, _, group = owner.partition(":")
            placed = {**self.files.pop(staged), "user": user, "group": group, "mode": int(mode)}
            self.files[f"{path}.mailguard-new" if how == "beside" else path] = placed
        elif name == "files" and args[0] == "metadata":
            _, path, owner, mode = args
            user, _, group = owner.partition(":")
            target = self.files.get(path) or self.directories.get(path)
            target.update(user=user, group=group, mode=int(mode))
        elif name == "download":
            self.files[args[1]] = {"text": "downloaded", "user": "root", "group": "root", "mode": 644}
        elif name == "first-signatures":
            self.files["/var/lib/clamav/main.cvd"] = {
                "text": "",
                "user": "clamupdate",
                "group": "clamupdate",
                "mode": 644,
            }
        elif name == "activate":
            service, unit, verb, last_good, _, _, markers, checks = args[:8]
            self.run(("systemctl", verb, unit), op_name)
            for marker in args[8 : 8 + int(markers)]:
                self.files.pop(marker, None)
            self.directories.pop(last_good, None)
        elif name == "swap-stopped":
            unit, new, path = args
            self.files[path] = self.files.pop(new)
        elif name == "retire":
            self.files[args[1]] = self.files.pop(args[0])
        elif name in ("check-dovecot", "check-openlitespeed"):
            pass
        else:
            raise ValueError(f"the host model cannot apply the script {name} {args!r} (from {op_name})")

    def run(self, argv: tuple[str, ...], op_name: str) -> None:
        """A program run with its arguments."""
        verb, args = argv[0], list(argv[1:])
        if verb == "env":  # env NAME=VALUE... PROGRAM ARGS
            while "=" in args[0]:
                args = args[1:]
            verb, args = args[0], args[1:]
        options = [a for a in args if a.startswith("-")]
        words = [a for a in args if not a.startswith("-") or a == "-"]
        if verb in ("dnf", "apt-get") and "install" in args:
            names = args[args.index("install") + 1 :]
            for name in names:
                if name.startswith("-"):
                    continue
                name = name.rsplit("/", 1)[-1].split("-latest")[0] if name.startswith("https://") else name
                self.packages.append(name)
                for path, meta in self.package_files.get(name, {}).items():
                    self.files.setdefault(path, dict(meta))
        elif verb == "apt-get":
            pass
        elif verb == "install":  # install [-D] -m MODE /dev/null PATH
            mode = int(args[args.index("-m") + 1])
            self.files[args[-1]] = {"text": "", "user": "root", "group": "root", "mode": mode}
        elif verb == "runuser" and list(argv[3:6]) == [
            "--",
            "install",
            "-m",
        ]:  # runuser -u USER -- install -m MODE -- SRC DST
            source = self.files[argv[-2]]
            self.files[argv[-1]] = {
                "text": source.get("text", ""),
                "user": argv[2],
                "group": argv[2],
                "mode": int(argv[6]),
            }
        elif verb == "rm":
            for path in words:
                self.files.pop(path, None)
        elif verb == "mkdir":
            mode = int(args[args.index("-m") + 1]) if "-m" in args else 755
            self.directories.setdefault(args[-1], {"user": "root", "group": "root", "mode": mode})
        elif verb == "touch" and "-d" in args:  # a time set: the file as it was
            pass
        elif verb == "touch":
            self.files[args[-1]] = {"text": "", "user": "root", "group": "root", "mode": 644}
        elif verb == "groupadd":
            self.system_groups.append(args[-1])
        elif verb == "usermod":
            self.groups.setdefault(args[-1], []).append(args[-2])
        elif verb == "postconf" and args[0] == "-P":
            for setting in args[1:]:
                key, _, value = setting.partition("=")
                service, _, name = key.rpartition("/")
                self.master[service][name] = value
        elif verb == "postconf":
            for setting in args[1:]:
                key, _, value = setting.partition("=")
                self.postconf[key.strip()] = value.strip()
        elif verb == "systemctl" and args[0] == "mask":
            unit = args[-1] if "." in args[-1] else f"{args[-1]}.service"
            self.units[unit] = {"running": False, "enabled": False, "masked": True}
        elif verb == "systemctl" and args[0] in ("start", "stop", "enable", "disable", "restart", "reload-or-restart"):
            unit = args[-1] if "." in args[-1] else f"{args[-1]}.service"
            meta = self.units.setdefault(unit, {"running": False, "enabled": False})
            meta["enabled" if args[0] in ("enable", "disable") else "running"] = args[0] not in ("stop", "disable")
            if "--now" in args:  # enable --now starts it, disable --now stops it
                meta["running"] = args[0] == "enable"
        elif verb == "dnf" and args[:2] == ["config-manager", "--set-enabled"]:
            self.dnf_repos[args[2]] = True
        elif verb == "subscription-manager":
            self.dnf_repos[args[-1]] = True
        elif verb == "firewall-cmd" and "--permanent" in args:
            self.firewalld += [a.split("=", 1)[1] for a in args if a.startswith("--add-service=")]
            self.firewalld_rich += [a.split("=", 1)[1] for a in args if a.startswith("--add-rich-rule=")]
        elif verb == "setsebool":
            self.sebools[args[-2]] = args[-1] == "on"
        elif verb == layout.KEEP_ORIGINAL:
            self.files.setdefault(layout.original(args[0]), dict(self.files[args[0]]))
        elif verb in ("systemctl", "firewall-cmd", "true", "postfix", "sievec") or verb.startswith("/usr/local/sbin/"):
            pass  # checks and service actions with no state the model tracks
        else:
            raise ValueError(f"the host model cannot apply {shlex.join(argv)!r} (from {op_name}) {options}")

    def output_Mailboxes(self, junk: str, socket: str) -> list[str]:
        """What mailboxes.sh prints: the socket once the deploy made it, then a line per user."""
        lines = ["socket"] if socket in self.files else []
        return lines + [f"user {_b64(user)} {junk_n} {inbox}" for user, (junk_n, inbox) in self.mailboxes.items()]

    def answer_read(self, args: tuple[str, ...]) -> list[str]:
        """read-host.sh's output for its arguments, as such a host would print it."""
        words = list(args)
        profile: dict | None = None
        if words[0] == "profile":
            _, disk_path, _, redis_socket, _, sentinel_host, _, _ = words[:8]
            words = words[8:]
            lists = []
            for _ in range(4):
                count = int(words[0])
                lists.append(tuple(words[1 : 1 + count]))
                words = words[1 + count :]
            profile = dict(zip(("paths", "texts", "password_files", "key_dirs"), lists, strict=True))
            profile["redis_socket"] = redis_socket
            profile["sentinel_host"] = sentinel_host
        wants: list[tuple[str, str]] = []
        if words:
            assert words[0] == "state", words
            words = words[3:]
            while words:
                kind, count = words[0], int(words[1])
                wants += [(kind, arg) for arg in words[2 : 2 + count] if kind != "sha256"]
                words = words[2 + count :]
        if profile is not None:
            self.asked.append("facts.SystemProfile")
            self.asked_kwargs.append({**profile, "wants": wants})
            return self.output_SystemProfile(**profile, wants=wants)
        self.asked.append("hoststate.HostState")
        self.asked_kwargs.append({"wants": wants})
        return self.output_HostState(wants)

    def _dovecot_profile(self) -> list[str]:
        if self.dovecot is None:
            return []
        return [
            f"dovecot={self.dovecot['version']}",
            f"dovecot_sieve_before={self.dovecot.get('plugin/sieve_before', '')}",
            f"dovecot_imapsieve_mailbox1={self.dovecot.get('plugin/imapsieve_mailbox1_name', '')}",
            f"dovecot_sieve_plugins={self.dovecot.get('plugin/sieve_plugins', '')}",
            f"dovecot_sieve_global_extensions={self.dovecot.get('plugin/sieve_global_extensions', '')}",
            f"dovecot_mail_access_groups={self.dovecot.get('mail_access_groups', '')}",
        ]

    def output_HostState(self, wants):
        """What read-host.sh's state read prints on such a host: a line per group, each answer NUL-ended."""
        lines = [readhost.STATE_MARK]
        for kind, args in readhost.groups_of(wants):
            records: list[str] = []
            if kind == "stat":
                for path in args:
                    meta = self._state_stat(path)
                    records += [path, meta[0]] if meta else []
            elif kind == "sha256":
                records = [
                    f"{hashlib.sha256(self.text(p).encode()).hexdigest()}  {p}"
                    for p in args
                    if self.text(p) is not None
                ]
            elif kind == "deb":
                records = [w for p in args for w in ([p, self._state_deb(p)[0]] if self._state_deb(p) else [])]
            elif kind == "postconf":
                records = [line for name in args for line in self._state_postconf(name)]
            elif kind == "setting":  # postconf -n: only what main.cf sets
                records = [line for name in args if name in self.postconf for line in self._state_postconf(name)]
            elif kind == "managed":
                records = ["1" if self._state_managed(p) not in ([], ["0"]) else "0" for p in args]
            elif kind == "unit":
                for n, unit in enumerate(args):
                    records += ([""] if n else []) + self._state_unit(unit)
            elif kind == "glob":
                records = [r for pattern in args for r in [*self._state_glob(pattern), ""]]
            else:
                records = ["\n".join(getattr(self, f"_state_{kind}")(arg)) for arg in args]
            lines.append(_b64("".join(f"{record}\0" for record in records)))
        return lines

    def _state_stat(self, path):
        if path in self.files and self.files[path].get("link"):  # {"link": target}: a symbolic link
            meta = self.files[path]
            return [f"{meta['user']} {meta['group']} 777 symbolic link"]
        if path in self.files:
            meta = self.files[path]
            return [f"{meta['user']} {meta['group']} {meta['mode']} regular {'' if meta['text'] else 'empty '}file"]
        if path in self.directories:
            meta = self.directories[path]
            return [f"{meta['user']} {meta['group']} {meta['mode']} directory"]
        return []

    def _state_text(self, path):
        text = self.text(path)
        return [] if text is None else ["b64:" + base64.b64encode(text.encode()).decode()]

    def _state_groups(self, user):
        return [" ".join(self.groups.get(user, []))]

    def _state_group(self, name):
        return [name] if name in self.system_groups else []

    def _state_postconf(self, name):
        return [f"{name} = {self.postconf.get(name, '')}"]

    def _state_master(self, what):
        if what == "services":
            return [f"{service.replace('/', ' ')} n - y - - smtpd" for service in self.master]
        return [
            f"{service}/{name} = {value}" for service, params in self.master.items() for name, value in params.items()
        ]

    def _state_pubkey(self, path):
        text = self.text(path)
        return [] if text is None else [public_key_b64(text.encode())]

    def _state_edpubkey(self, path):
        text = self.text(path)
        return [] if text is None else [dkim.ed25519_public_b64(text.encode())]

    def _state_unit(self, unit):
        meta = self.units.get(unit if "." in unit else f"{unit}.service")
        if meta is None:
            return ["LoadState=not-found", "ActiveState=inactive", "UnitFileState="]
        if meta.get("masked"):
            return ["LoadState=masked", "ActiveState=inactive", "UnitFileState=masked"]
        return [
            "LoadState=loaded",
            f"ActiveState={'active' if meta['running'] else 'inactive'}",
            f"UnitFileState={'enabled' if meta['enabled'] else 'disabled'}",
        ]

    def _state_managed(self, path):
        text = self.text(path)
        return [] if text is None else [str(sum(layout.MANAGED_MARK in line for line in text.splitlines()[:2]))]

    def _state_pwhash(self, path):
        lines = []
        for key, value in re.findall(r'^\s*(password|enable_password)\s*=\s*"([^"]*)"', self.text(path) or "", re.M):
            salt = value.split("$")[2] if value.count("$") >= 3 else ""
            lines.append(f"{key} {salt} {hashlib.sha256(value.encode()).hexdigest()}")
        return lines

    def _state_dnfrepo(self, repo):
        return ["enabled"] if self.dnf_repos.get(repo) else []

    def _state_firewalld(self, what):
        if self.firewalld is None:
            return []
        return list(self.firewalld_rich) if what == "rich-rules" else [" ".join(self.firewalld)]

    def _state_deb(self, name):
        return [f"installed {self.versions.get(name, '1.0')}-1"] if name in self.packages else []

    def _state_rpm(self, name):
        return [f"installed {self.versions.get(name, '1.0')}"] if name in self.packages else []

    def _state_sebool(self, name):
        if self.selinux in ("Disabled", "absent"):
            return []
        return [f"{name} --> {'on' if self.sebools.get(name) else 'off'}"]

    def _state_dbsize(self, socket):
        return [str(self.redis_keys)] if "redis" in " ".join(self.packages) else []

    def _state_glob(self, pattern):
        return [p for p in sorted(self.files) if fnmatch(p, pattern)]


@dataclass
class PlannedOp:
    name: str
    commands: list  # str for shell commands, ("upload", dest, bytes) for uploads
    serial: bool = False  # pyinfra runs it host by host

    @property
    def changes(self) -> bool:
        return bool(self.commands)

    def uploads(self) -> dict[str, bytes]:
        """Uploaded data by the path it ends up at (staged, then placed by files.sh place)."""
        found = {}
        for index, command in enumerate(self.commands):
            if isinstance(command, tuple):
                staged = command[1]
                placed = next(
                    c.args[2]
                    for c in self.commands[index:]
                    if isinstance(c, Planned) and c.script == "files" and c.args[:2] == ("place", staged)
                )
                found[placed] = command[2]
        return found


def by_name(ops: list[PlannedOp]) -> dict[str, PlannedOp]:
    return {op.name: op for op in ops}


def metadata_set(command) -> tuple[str, str, int] | None:
    """(path, "user:group", mode) of a command that sets a path's owner and mode, else None."""
    if isinstance(command, Planned) and command.script == "files" and command.args[:1] == ("metadata",):
        _, path, owner, mode = command.args
        return path, owner, int(mode)
    return None


def _command(command):
    if isinstance(command, FileUploadCommand):
        src = command.src
        if isinstance(src, (StringIO, BytesIO)):
            data = src.getvalue()
            data = data.encode() if isinstance(data, str) else data
        else:
            data = Path(src).read_bytes()
        return ("upload", command.dest, data)
    if isinstance(command, Command):
        return Planned(command)
    if isinstance(command, StringCommand):  # an admin's own operation in their deploy file
        return command.get_raw_value()
    return repr(command)


def plan(
    model: HostModel,
    mail_settings: dict,
    env: dict[str, str],
    config: Config | None = None,
    deploy_file: Path | None = None,
) -> list[PlannedOp]:
    """Run deploy.py's (or ``deploy_file``'s) prepare stage against ``model``; every operation with its commands."""
    return plan_group({"modelled-host": (model, mail_settings)}, env, config, deploy_file)["modelled-host"]


def plan_group(
    hosts: dict[str, tuple[HostModel, dict]],
    env: dict[str, str],
    config: Config | None = None,
    deploy_file: Path | None = None,
    left_out: dict[str, dict] | None = None,
) -> dict[str, list[PlannedOp]]:
    """``plan`` for several hosts of one inventory (name -> (model, mail_settings)), planned one
    after another as pyinfra plans them side by side. ``left_out``: inventory hosts (name ->
    mail_settings) that are not in the run, as --limit leaves them."""
    names = [*hosts, *(left_out or {})]
    settings_of = {**{n: s for n, (_, s) in hosts.items()}, **(left_out or {})}
    # raw settings, as an admin's own inventory gives them, or Settings that inventory.py validated
    inventory = Inventory(
        (
            [
                (
                    n,
                    {SETTINGS_KEY: settings_of[n]}
                    if isinstance(settings_of[n], Settings)
                    else {"mail_settings": settings_of[n]},
                )
                for n in names
            ],
            {},
        )
    )
    state = State(inventory, config or Config(), check_for_changes=False)  # as `pyinfra -y` runs
    state.current_stage = StateStage.Prepare
    for name in hosts:
        inventory.get_host(name).connected = True  # nothing to connect to: every fact comes from the model
        state.active_hosts.add(inventory.get_host(name))

    def get_fact(state_, host_, cls, args=None, kwargs=None, **_):
        from pyinfra.api.facts import _handle_fact_kwargs

        fact_kwargs, _globals = _handle_fact_kwargs(state_, host_, cls, args, kwargs)
        return hosts[host_.name][0].fact(cls, {k: v for k, v in fact_kwargs.items() if k != "self"})

    def run_shell_command(host_, command, **kwargs):  # the host read (templates/tools/read-host.sh)
        assert isinstance(command, Command) and command.script == "read-host", command
        model = hosts[host_.name][0]
        model.printed.append(bool(kwargs.get("print_output")) or bool(kwargs.get("print_input")))
        lines = model.answer_read(arguments_of(command))
        return True, CommandOutput([OutputLine("stdout", line) for line in lines])

    result: dict[str, list[PlannedOp]] = {}
    with (
        mock.patch.dict("os.environ", env, clear=False),
        mock.patch("pyinfra.api.host.get_fact", get_fact),
        mock.patch("pyinfra.api.host.Host.run_shell_command", run_shell_command),
        ctx_state.use(state),
    ):
        for name in hosts:
            with ctx_host.use(inventory.get_host(name)):
                state.current_op_file_number = 0
                runpy.run_path(str(deploy_file or ROOT / "deploy.py"), run_name="deploy")
        for name in hosts:
            host = inventory.get_host(name)
            result[name] = []
            with ctx_host.use(host):
                for op_hash in state.get_op_order():
                    op_data = state.ops[host].get(op_hash)
                    if op_data is None:
                        continue
                    meta = state.get_op_meta(op_hash)
                    # _if is evaluated against the earlier operations' planned changes, as at execution.
                    ifs = op_data.global_arguments.get("_if")
                    ifs = ifs if isinstance(ifs, list) else [ifs] if ifs else []
                    skipped = not all(condition() for condition in ifs)
                    commands = [] if skipped else [_command(c) for c in op_data.command_generator()]
                    op_data.operation_meta.set_complete(True, commands, CommandOutput([]))
                    serial = bool(meta.global_arguments.get("_serial"))
                    result[name].append(PlannedOp(next(iter(meta.names)), commands, serial))
    return result


def apply(model: HostModel, ops: list[PlannedOp]) -> None:
    """Carry out planned commands on the model (only the vocabulary the deploy uses), by their
    program or tool script and arguments."""
    for op in ops:
        for command in op.commands:
            if isinstance(command, tuple):
                _, dest, data = command
                old = model.files.get(dest, {"user": "root", "group": "root", "mode": 644})
                model.files[dest] = {**old, "text": data.decode()}
                continue
            if not isinstance(command, Planned):
                raise ValueError(f"the host model cannot apply {command!r} (from {op.name})")
            if command.script:
                model.run_script(command.script, command.args, op.name)
            else:
                model.run(command.argv, op.name)


def converge(model: HostModel, mail_settings: dict, env: dict, rounds: int = 3) -> list[list[PlannedOp]]:
    """Plan and apply until a plan changes nothing; every round's plan, last one included."""
    plans = []
    for _ in range(rounds):
        ops = plan(model, mail_settings, env)
        plans.append(ops)
        if not any(op.changes for op in ops):
            break
        apply(model, ops)
    return plans


@dataclass(frozen=True)
class Activation:
    """What an activate.sh command was given (templates/tools/activate.sh's arguments)."""

    service: str
    unit: str
    verb: str
    last_good: str
    rollback: str
    hold: str
    markers: tuple[str, ...]
    check: tuple[str, ...]
    ready: tuple[str, ...]


def activation_of(command) -> Activation | None:
    if not (isinstance(command, Planned) and command.script == "activate"):
        return None
    args = [_SCRIPT_NAMES.get(word, word) for word in command.args]
    markers, checks = int(args[6]), int(args[7])
    rest = args[8:]
    return Activation(
        *args[:6], tuple(rest[:markers]), tuple(rest[markers : markers + checks]), tuple(rest[markers + checks :])
    )
