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
from operations.facts import SystemProfile
from operations.hoststate import MARK

ROOT = Path(__file__).resolve().parent.parent
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
    versions: dict[str, str] = field(default_factory=lambda: {"rspamd": "4.2.1"})  # of installed packages
    # Dovecot's version and its settings as doveconf -h gives them ("plugin/sieve_before"); None: none
    dovecot: dict[str, str] | None = None
    redis_keys: int = 0  # what Redis holds

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

    def output_SystemProfile(self, paths=(), texts=(), password_files=(), key_dirs=(), redis_socket="", wants=(), **_):
        exists = [f"exists={p}" for p in paths if p in self.files or p in self.directories]
        if redis_socket and "redis" in " ".join(self.packages):  # a Redis of its own (never a replica here)
            exists += ["redis_role=master", f"redis_keys={self.redis_keys}"]
        exists += [
            f"dkimkey={hashlib.sha256(self.text(p).encode()).hexdigest()}  {p}"
            for d in key_dirs
            for p in sorted(self.files)
            if fnmatch(p, f"{d}/*.key") and "/" not in p[len(d) + 1 :] and self.text(p) is not None
        ]
        conf = self.text(opendkim.CONF)
        if conf is not None:  # the command reads the tables opendkim.conf names
            texts = [*texts, *(opendkim.table_path(d) for d in opendkim.tables(conf).values())]
        exists += [f"text={p} " + base64.b64encode(self.text(p).encode()).decode() for p in texts if p in self.files]
        exists += [f"pwhash={line}" for path in password_files for line in self._state_pwhash(path)]
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
            + ([SystemProfile.STATE, *self.output_HostState(wants)] if wants else [])
        )

    def _dovecot_profile(self) -> list[str]:
        if self.dovecot is None:
            return []
        return [
            f"dovecot={self.dovecot['version']}",
            f"dovecot_sieve_before={self.dovecot.get('plugin/sieve_before', '')}",
            f"dovecot_imapsieve_mailbox1={self.dovecot.get('plugin/imapsieve_mailbox1_name', '')}",
            f"dovecot_sieve_plugins={self.dovecot.get('plugin/sieve_plugins', '')}",
            f"dovecot_sieve_global_extensions={self.dovecot.get('plugin/sieve_global_extensions', '')}",
        ]

    def output_HostState(self, wants):
        lines = []
        for kind, arg in wants:
            lines.append(f"{MARK} {kind} {arg}")
            lines += getattr(self, f"_state_{kind}")(arg)
            if kind == "stat" and self.text(arg) is not None:  # a regular file's hash, as its own answer
                lines += [f"{MARK} sha256 {arg}", hashlib.sha256(self.text(arg).encode()).hexdigest()]
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

    def _state_firewalld(self, _):
        return [" ".join(self.firewalld)] if self.firewalld is not None else []

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
        """Uploaded data by the path it ends up at (staging files are copied beside it, then moved)."""
        found = {}
        for index, command in enumerate(self.commands):
            if isinstance(command, tuple):
                staged = command[1]
                placed = next(
                    c.split(f"--remove-destination {staged} ", 1)[1].split()[0]
                    for c in self.commands[index:]
                    if isinstance(c, str) and f"--remove-destination {staged} " in c
                )
                found[placed.removesuffix(".mailguard-new")] = command[2]
        return found


def by_name(ops: list[PlannedOp]) -> dict[str, PlannedOp]:
    return {op.name: op for op in ops}


def metadata_set(command) -> tuple[str, str, int] | None:
    """(path, "user:group", mode) of a command that sets a path's owner and mode, else None."""
    match = isinstance(command, str) and re.match(
        r"^seen=.* chown (\S+) /proc/self/fd/3 && chmod (\d+) /proc/self/fd/3; \} 3<(\S+) ", command
    )
    return (match.group(3), match.group(1), int(match.group(2))) if match else None


def _command(command):
    if isinstance(command, FileUploadCommand):
        src = command.src
        if isinstance(src, (StringIO, BytesIO)):
            data = src.getvalue()
            data = data.encode() if isinstance(data, str) else data
        else:
            data = Path(src).read_bytes()
        return ("upload", command.dest, data)
    if isinstance(command, StringCommand):
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
    inventory = Inventory(([(n, {"mail_settings": settings_of[n]}) for n in names], {}))
    state = State(inventory, config or Config(), check_for_changes=False)  # as `pyinfra -y` runs
    state.current_stage = StateStage.Prepare
    for name in hosts:
        inventory.get_host(name).connected = True  # nothing to connect to: every fact comes from the model
        state.active_hosts.add(inventory.get_host(name))

    def get_fact(state_, host_, cls, args=None, kwargs=None, **_):
        from pyinfra.api.facts import _handle_fact_kwargs

        fact_kwargs, _globals = _handle_fact_kwargs(state_, host_, cls, args, kwargs)
        return hosts[host_.name][0].fact(cls, {k: v for k, v in fact_kwargs.items() if k != "self"})

    def run_shell_command(host_, command, **_):  # a file read (the text snippet) on that host
        path = re.search(r" -- (\S+) 2>/dev/null", command.get_raw_value()).group(1)
        lines = hosts[host_.name][0]._state_text(path)
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
    """Carry out planned commands on the model (only the vocabulary the deploy uses)."""
    import shlex

    for op in ops:
        for command in op.commands:
            if isinstance(command, tuple):
                _, dest, data = command
                old = model.files.get(dest, {"user": "root", "group": "root", "mode": 644})
                model.files[dest] = {**old, "text": data.decode()}
                continue
            if "freshclam --quiet" in command:  # the first signature download, with its retries
                model.files["/var/lib/clamav/main.cvd"] = {
                    "text": "",
                    "user": "clamupdate",
                    "group": "clamupdate",
                    "mode": 644,
                }
                continue
            # The restart's group that releases the hold whatever happens: as a plain chain here.
            command = re.sub(r"\{ (.+?); restarted=\$\?; (.+?); \[ \$restarted -eq 0 \]; \}", r"\1 && \2", command)
            match = re.match(r"^if (.+?); then (.+?); else .+; fi$", command)
            if match:  # check; then activate (the model's checks pass)
                command = match.group(2)
            metadata = metadata_set(command)
            if metadata:  # owner and mode set through a descriptor on the file itself
                path, owner, mode = metadata
                user, _, group = owner.partition(":")
                target = model.files.get(path) or model.directories.get(path)
                target.update(user=user, group=group, mode=int(mode))
                continue
            for part in command.split(" && "):
                words = shlex.split(part)
                while "=" in words[0]:  # VAR=value before the command
                    words = words[1:]
                verb, args = words[0], words[1:]
                if verb == "apt-get" and "update" in args:
                    pass
                elif verb in ("dnf", "apt-get") and "install" in args:
                    args = [a.rsplit("/", 1)[-1].split("-latest")[0] if a.startswith("https://") else a for a in args]
                    for name in args[args.index("install") + 1 :]:
                        if name.startswith("-"):
                            continue
                        model.packages.append(name)
                        for path, meta in model.package_files.get(name, {}).items():
                            model.files.setdefault(path, dict(meta))
                elif verb == "install":  # install -m MODE /dev/null PATH
                    model.files[args[-1]] = {"text": "", "user": "root", "group": "root", "mode": int(args[1])}
                elif verb == "chown" and not args[0].startswith("--"):
                    user, _, group = args[0].partition(":")
                    target = model.files.get(args[1]) or model.directories.get(args[1])
                    target.update(user=user, group=group or target["group"])
                elif verb == "chown":
                    ref = model.files[args[0].split("=", 1)[1]]
                    model.files[args[1]].update(user=ref["user"], group=ref["group"])
                elif verb == "chmod" and not args[0].startswith("--"):
                    target = model.files.get(args[1]) or model.directories.get(args[1])
                    target["mode"] = int(args[0])
                elif verb == "chmod":
                    model.files[args[1]]["mode"] = model.files[args[0].split("=", 1)[1]]["mode"]
                elif verb == "cp":  # cp -P --preserve=mode,ownership --remove-destination SOURCE DEST
                    model.files[args[-1]] = dict(model.files[args[-2]])
                elif verb in ("mv", "ln"):
                    source, dest = args[-2], args[-1]
                    model.files[dest] = model.files.pop(source) if verb == "mv" else dict(model.files[source])
                elif verb == "rm":
                    for path in args[1:]:
                        model.files.pop(path, None)
                elif verb == "mkdir":
                    mode = int(args[args.index("-m") + 1]) if "-m" in args else 755
                    model.directories.setdefault(args[-1], {"user": "root", "group": "root", "mode": mode})
                elif verb == "touch":
                    model.files[args[-1]] = {"text": "", "user": "root", "group": "root", "mode": 644}
                elif verb == "usermod":
                    model.groups.setdefault(args[-1], []).append(args[-2])
                elif verb == "postconf" and args[0] == "-P":
                    for setting in args[1:]:
                        key, _, value = setting.partition("=")
                        service, _, name = key.rpartition("/")
                        model.master[service][name] = value
                elif verb == "postconf":
                    for setting in args[1:]:
                        key, _, value = setting.partition("=")
                        model.postconf[key.strip()] = value.strip()
                elif verb == "systemctl" and args[0] == "mask":
                    unit = args[-1] if "." in args[-1] else f"{args[-1]}.service"
                    model.units[unit] = {"running": False, "enabled": False, "masked": True}
                elif verb == "systemctl" and args[0] in (
                    "start",
                    "stop",
                    "enable",
                    "disable",
                    "restart",
                    "reload-or-restart",
                ):
                    unit = args[1] if "." in args[1] else f"{args[1]}.service"
                    meta = model.units.setdefault(unit, {"running": False, "enabled": False})
                    meta["enabled" if args[0] in ("enable", "disable") else "running"] = args[0] not in (
                        "stop",
                        "disable",
                    )
                elif verb == "dnf" and args[:2] == ["config-manager", "--set-enabled"]:
                    model.dnf_repos[args[2]] = True
                elif verb == "subscription-manager":
                    model.dnf_repos[args[-1]] = True
                elif verb == "firewall-cmd" and "--permanent" in args:
                    model.firewalld += [a.split("=", 1)[1] for a in args if a.startswith("--add-service=")]
                elif verb == "firewall-cmd":
                    pass
                elif verb == "setsebool":
                    model.sebools[args[-2]] = args[-1] == "on"
                elif verb == "curl":  # curl ... -o PATH URL
                    model.files[args[args.index("-o") + 1]] = {
                        "text": "downloaded",
                        "user": "root",
                        "group": "root",
                        "mode": 600,
                    }
                elif verb == "freshclam":
                    model.files["/var/lib/clamav/main.cvd"] = {
                        "text": "",
                        "user": "clamupdate",
                        "group": "clamupdate",
                        "mode": 644,
                    }
                elif verb == layout.KEEP_ORIGINAL:
                    model.files.setdefault(layout.original(args[0]), dict(model.files[args[0]]))
                elif (
                    verb == "systemctl"
                    or verb.startswith("/usr/local/sbin/")
                    or verb in ("true", "postfix", "(", "sleep", "sievec")
                ):
                    pass  # checks and service actions with no state the model tracks
                else:
                    raise ValueError(f"the host model cannot apply {part!r} (from {op.name})")


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
