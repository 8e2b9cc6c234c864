"""EPEL and rspamd's repository, then the packages."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, dnf, files

from mailguard.platforms import Platform

from .templating import render


def _dnf_packages(name: str, packages: list[str], refresh=None):
    return dnf.packages(name=name, packages=packages)


def _apt_packages(name: str, packages: list[str], refresh=None):
    if refresh is not None:
        apt.update(name=f"{name}: refresh apt for the new repository", _if=refresh)
    return apt.packages(name=name, packages=packages, update=True, cache_time=24 * 3600, no_recommends=True)


# Platform.package_manager -> how packages are installed with it
PACKAGE_INSTALLERS = {"dnf": _dnf_packages, "apt": _apt_packages}


@deploy("Repositories and packages")
def install(settings, platform: Platform):
    install_packages = PACKAGE_INSTALLERS[platform.package_manager]
    install_packages("Install repository prerequisites", list(platform.prerequisite_packages))
    refresh = None
    if settings.rspamd_source == "upstream":
        files.download(
            name="Download rspamd's signing key",
            src=platform.rspamd_key_url,
            dest=platform.rspamd_key_file,
            mode="644",
        )
        repo = files.put(
            name="Add rspamd's repository",
            src=StringIO(render(platform.rspamd_repo_template, platform=platform)),
            dest=platform.rspamd_repo_file,
            mode="644",
        )
        refresh = repo.did_change
    packages = list(platform.packages) + (list(platform.antivirus_packages) if settings.antivirus else [])
    install_packages("Install rspamd, redis and ClamAV", packages, refresh=refresh)
