"""EPEL and rspamd's repository, then the packages."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, dnf, files

from mailguard.platforms import Platform

from .templating import render


@deploy("Repositories and packages")
def install(settings, platform: Platform):
    packages = list(platform.packages)
    if settings.antivirus:
        packages += platform.antivirus_packages
    changes = []
    if platform.package_manager == "dnf":
        dnf.packages(name="Install EPEL", packages=list(platform.prerequisite_packages))
    else:
        apt.packages(
            name="Install repository prerequisites",
            packages=list(platform.prerequisite_packages),
            update=True,
            cache_time=24 * 3600,
        )
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
        changes.append(repo)
    if platform.package_manager == "dnf":
        changes.append(dnf.packages(name="Install rspamd, redis and ClamAV", packages=packages))
    else:
        if settings.rspamd_source == "upstream":
            apt.update(name="Refresh apt after adding rspamd's repository", _if=lambda: repo.did_change())
        changes.append(
            apt.packages(name="Install rspamd, redis and ClamAV", packages=packages, no_recommends=True)
        )
    return changes
