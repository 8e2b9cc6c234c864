"""Which host the deploy aims at, and with which settings: read by inventory.py.

- ``MAIL_HOST`` (+ ``MAIL_SSH_PORT``, ``MAIL_SSH_USER``, ``MAIL_SSH_KEY``): a real server over SSH.
- ``MAIL_TARGET=vagrant``: the AlmaLinux 9 box of the Vagrantfile (pyinfra's @vagrant connector).
- otherwise: the local Debian 12 sandbox, when it runs (``./run sandbox up``).

Settings come from the TOML file ``MAIL_SETTINGS`` (default ``settings.toml``; the sandbox
uses ``sandbox/settings.toml``).
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from . import settings as settings_module

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_STATE = Path(os.environ.get("MAILGUARD_SANDBOX_RUN", "/run/mailguard-sandbox")) / "state.json"


class TargetError(Exception):
    pass


def read_settings_file(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise TargetError(f"MAIL_SETTINGS: no such file: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise TargetError(f"MAIL_SETTINGS: {path} is not valid TOML: {error}") from None


def sandbox_state() -> dict | None:
    try:
        return json.loads(SANDBOX_STATE.read_text())
    except (FileNotFoundError, ValueError):
        return None


def select(env: dict[str, str] | None = None) -> tuple[list[tuple[str, dict]], Path | None]:
    """[(pyinfra host name, host data)] and the settings file used, or TargetError (or SettingsError).

    The settings are validated here, before pyinfra connects to anything, and kept in each
    host's data (``settings.SETTINGS_KEY``): the deploy uses them as they are.
    """
    env = dict(os.environ if env is None else env)
    if env.get("MAIL_HOST"):
        data: dict = {"ssh_user": env.get("MAIL_SSH_USER", "root")}
        if env.get("MAIL_SSH_PORT"):
            if not env["MAIL_SSH_PORT"].isdigit():
                raise TargetError(f"MAIL_SSH_PORT: not a port number: {env['MAIL_SSH_PORT']!r}")
            data["ssh_port"] = int(env["MAIL_SSH_PORT"])
        if env.get("MAIL_SSH_KEY"):
            data["ssh_key"] = env["MAIL_SSH_KEY"]
        hosts, default_settings = [(env["MAIL_HOST"], data)], ROOT / "settings.toml"
    elif env.get("MAIL_TARGET") == "vagrant":
        hosts, default_settings = [("@vagrant/default", {"ssh_user": "root"})], ROOT / "settings.toml"
    elif env.get("MAIL_TARGET") not in (None, "", "sandbox"):
        raise TargetError(f"MAIL_TARGET: must be 'sandbox' or 'vagrant', got {env['MAIL_TARGET']!r}")
    else:
        state = sandbox_state()
        if state is None:
            raise TargetError(
                "no target: set MAIL_HOST (and MAIL_SSH_PORT, MAIL_SSH_USER, MAIL_SSH_KEY) for a server, "
                "MAIL_TARGET=vagrant for the Vagrant box, or start the local sandbox: ./run sandbox up"
            )
        hosts = [
            (
                "127.0.0.1",
                {
                    "ssh_port": state["ssh_port"],
                    "ssh_user": "root",
                    "ssh_key": state["ssh_key"],
                    "ssh_known_hosts_file": state["known_hosts"],
                    "ssh_strict_host_key_checking": "yes",
                },
            )
        ]
        default_settings = ROOT / "sandbox" / "settings.toml"
    path: Path | None = Path(env["MAIL_SETTINGS"]) if env.get("MAIL_SETTINGS") else default_settings
    if path is not None and (env.get("MAIL_SETTINGS") or path.exists()):
        mail_settings = read_settings_file(path)
    else:
        mail_settings, path = {}, None
    loaded = settings_module.load(mail_settings, env)
    return [(name, {**data, settings_module.SETTINGS_KEY: loaded}) for name, data in hosts], path
