"""EPEL and rspamd's repository, then the packages."""

from __future__ import annotations

from typing import NamedTuple

from pyinfra.api import deploy

from mailguard.platforms import Platform

from . import generic
from .templating import render


class Installer(NamedTuple):
    install: str  # the command that installs packages (they follow it)
    query: str  # the hoststate kind that says whether a package is installed


# Platform.package_manager -> its installer. apt reads its lists first: a new repository
# (rspamd's) is only known after an update.
PACKAGE_INSTALLERS = {
    "dnf": Installer("dnf -y -q install", "rpm"),
    "apt": Installer(
        "apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends", "deb"
    ),
}


@deploy("Repositories and packages")
def install(settings, platform: Platform):
    installer = PACKAGE_INSTALLERS[platform.package_manager]
    if platform.extra_repo and platform.extra_repo_enable:
        generic.repository_enabled(
            name=f"Enable the {platform.extra_repo} repository",
            repo=platform.extra_repo,
            command=platform.extra_repo_enable,
        )
    generic.packages(
        name="Install repository prerequisites",
        packages=list(platform.prerequisite_packages),
        installer=installer,
        sources=dict(platform.package_sources),
    )
    if settings.rspamd_source == "upstream":
        generic.download(
            name="Download rspamd's signing key", path=platform.rspamd_key_file, url=platform.rspamd_key_url
        )
        generic.text_file(
            name="Add rspamd's repository",
            path=platform.rspamd_repo_file,
            content=render(platform.rspamd_repo_template, platform=platform),
        )
    packages = list(platform.packages) + (list(platform.antivirus_packages) if settings.antivirus else [])
    generic.packages(name="Install rspamd, redis and ClamAV", packages=packages, installer=installer)
