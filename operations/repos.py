"""EPEL and rspamd's repository, then the packages."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from pyinfra.api import deploy

from mailguard.platforms import Platform
from mailguard.settings import Settings

from . import files, system
from .commands import Command
from .context import HostContext
from .templating import render


class Installer(NamedTuple):
    install: Callable[[list[str]], list[Command]]  # the commands that install these packages
    query: str  # the hoststate kind that says whether a package is installed


def _dnf_install(packages: list[str]) -> list[Command]:
    return [Command("dnf", "-y", "-q", "install", *packages)]


def _apt_install(packages: list[str]) -> list[Command]:
    """apt reads its lists first: a new repository (rspamd's) is only known after an update."""
    return [
        Command("apt-get", "-q", "update"),
        Command("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q", "install", "--no-install-recommends",
                *packages),
    ]  # fmt: skip


# Platform.package_manager -> its installer
PACKAGE_INSTALLERS = {"dnf": Installer(_dnf_install, "rpm"), "apt": Installer(_apt_install, "deb")}


def main_packages(settings: Settings, platform: Platform) -> list[str]:
    """The deploy's main transaction, one per run. The prerequisites serve rspamd's repository (its
    key's download; EPEL for its dependencies): without that repository they come in it too."""
    packages = [] if settings.rspamd_source == "upstream" else list(platform.prerequisite_packages)
    packages += list(platform.packages) + (list(platform.antivirus_packages) if settings.antivirus else [])
    packages += list(platform.fence_packages) if settings.group_addresses else []  # operations/redis.py's fence
    packages += list(platform.tunnel_packages) if settings.redis_role != "standalone" else []  # operations/tunnel.py
    packages += list(platform.unbound_packages) if settings.resolver == "local" else []  # operations/resolver.py
    return packages


@deploy("Repositories and packages")
def install(ctx: HostContext):
    settings, platform = ctx.settings, ctx.platform
    installer = PACKAGE_INSTALLERS[platform.package_manager]
    if platform.extra_repo and platform.extra_repo_enable:
        system.repository_enabled(
            name=f"Enable the {platform.extra_repo} repository",
            repo=platform.extra_repo,
            command=platform.extra_repo_enable,
            reads=ctx.reads,
        )
    if settings.rspamd_source == "upstream":
        system.packages(
            name="Install repository prerequisites",
            packages=list(platform.prerequisite_packages),
            installer=installer,
            sources=dict(platform.package_sources),
            reads=ctx.reads,
        )
        files.download(
            name="Download rspamd's signing key",
            path=platform.rspamd_key_file,
            url=platform.rspamd_key_url,
            reads=ctx.reads,
        )
        files.text_file(
            name="Add rspamd's repository",
            path=platform.rspamd_repo_file,
            content=render(platform.rspamd_repo_template, platform=platform),
            reads=ctx.reads,
        )
    system.packages(
        name="Install rspamd, redis and ClamAV",
        packages=main_packages(settings, platform),
        installer=installer,
        reads=ctx.reads,
    )
