"""Every platform in the table, planned by pyinfra's engine over a modelled host of its own.

Each distribution gets its fresh-host plan, its convergence to a fixed point, and its drift put
back. Where a distribution of a family differs (RHEL, Oracle Linux), that difference is tested.
"""

from __future__ import annotations

import pytest
from hostmodel import HostModel, apply, by_name, converge, plan
from support import PASSWORDS, SETTINGS

from mailguard import platforms

# (model folder, os-release changes, platform key)
EL9 = {
    "AlmaLinux 9": ("el9", {"os_id": "almalinux", "id_like": "rhel centos fedora", "version_id": "9.4"}),
    "Rocky Linux 9": ("el9", {"os_id": "rocky", "id_like": "rhel centos fedora", "version_id": "9.5"}),
    "RHEL 9": ("el9", {"os_id": "rhel", "id_like": "fedora", "version_id": "9.4"}),
    "CentOS Stream 9": ("el9", {"os_id": "centos", "id_like": "rhel fedora", "version_id": "9"}),
    "Oracle Linux 9": ("el9", {"os_id": "ol", "id_like": "fedora", "version_id": "9.4"}),
}
DEBIAN = {
    "Debian 12": ("debian12", {}),
    "Debian 13": ("debian13", {}),
    "Debian unstable": ("debian-unstable", {}),
}
ALL = {**EL9, **DEBIAN}
DISTRO_ONLY = {"Debian unstable"}  # rspamd publishes no repository for it


def model_for(system: str, state: str = "fresh") -> HostModel:
    folder, changes = ALL[system]
    model = HostModel.load(folder, state)
    for key, value in changes.items():
        setattr(model, key, value)
    return model


def settings_for(system: str) -> dict:
    return {**SETTINGS, "rspamd_source": "distro"} if system in DISTRO_ONLY else SETTINGS


def test_every_platform_in_the_table_has_a_modelled_host():
    modelled = {
        platforms.for_os_release({"ID": m.os_id, "ID_LIKE": m.id_like, "VERSION_ID": m.version_id}).key
        for m in (model_for(system) for system in ALL)
    }
    assert modelled == {p.key for p in platforms.PLATFORMS.values()}


@pytest.mark.parametrize("system", list(ALL))
def test_fresh_host_plan_converges_and_then_nothing_changes(system):
    model = model_for(system)
    plans = converge(model, settings_for(system), PASSWORDS)
    assert any(op.changes for op in plans[0])
    assert not any(op.changes for op in plans[-1]), [op.name for op in plans[-1] if op.changes]
    assert len(plans) <= 3
    key = "/var/lib/rspamd/dkim/example.com.dkim.key"
    assert (model.files[key]["user"], model.files[key]["mode"]) == ("_rspamd", 600)
    assert not [p for p in model.files if p.startswith("/var/lib/mailguard/pending/")]


@pytest.mark.parametrize("system", list(ALL))
def test_drift_is_put_back_and_only_rspamd_reloads(system):
    model = model_for(system)
    converge(model, settings_for(system), PASSWORDS)
    model.files["/etc/rspamd/override.d/actions.conf"]["text"] = "reject = 15;\n"
    ops = by_name(plan(model, settings_for(system), PASSWORDS))
    changed = {name for name, op in ops.items() if op.changes}
    activate = "Activate | rspamd: check the configuration, then restart (workers, groups) or reload"
    assert changed == {
        "rspamd configuration | rspamd: override.d/actions.conf",
        "rspamd: rspamd reload pending",
        activate,
    }
    apply(model, list(ops.values()))
    assert "reject = 1000.0;" in model.files["/etc/rspamd/override.d/actions.conf"]["text"]


@pytest.mark.parametrize("system", list(EL9))
def test_every_enterprise_linux_9_plans_crb_then_epel(system):
    ops = by_name(plan(model_for(system), SETTINGS, PASSWORDS))
    names = list(ops)
    [crb] = [n for n in names if n.startswith("Repositories and packages | Enable the ")]
    epel = "Repositories and packages | Install repository prerequisites"
    assert names.index(crb) < names.index(epel)
    expected = {
        "rhel": (
            ["subscription-manager repos --enable codeready-builder-for-rhel-9-x86_64-rpms"],
            ["dnf -y -q install https://dl.fedoraproject.org/pub/epel/epel-release-latest-9.noarch.rpm"],
        ),
        "ol": (
            ["dnf config-manager --set-enabled ol9_codeready_builder"],
            ["dnf -y -q install oracle-epel-release-el9"],
        ),
    }.get(ALL[system][1]["os_id"], (["dnf config-manager --set-enabled crb"], ["dnf -y -q install epel-release"]))
    assert (ops[crb].commands, ops[epel].commands) == expected
    repo = ops["Repositories and packages | Add rspamd's repository"].uploads()["/etc/yum.repos.d/rspamd.repo"]
    assert b"baseurl=http://rspamd.com/rpm-stable/centos-9/$basearch" in repo


@pytest.mark.parametrize("system, codename", [("Debian 12", "bookworm"), ("Debian 13", "trixie")])
def test_debian_gets_rspamds_repository_for_its_own_release(system, codename):
    ops = by_name(plan(model_for(system), SETTINGS, PASSWORDS))
    listing = ops["Repositories and packages | Add rspamd's repository"].uploads()[
        "/etc/apt/sources.list.d/rspamd.list"
    ]
    assert f"http://rspamd.com/apt-stable/ {codename} main".encode() in listing
    assert not [name for name in ops if "crb" in name]


def test_debian_unstable_refuses_rspamds_repository_and_takes_debians_package():
    from operations.preflight import PreflightError

    with pytest.raises(PreflightError, match="rspamd's repository does not serve Debian unstable; use 'distro'"):
        plan(model_for("Debian unstable"), SETTINGS, PASSWORDS)
    ops = by_name(plan(model_for("Debian unstable"), settings_for("Debian unstable"), PASSWORDS))
    assert "Repositories and packages | Add rspamd's repository" not in ops


def test_firewalld_gets_http_and_https_only_when_it_runs_and_a_proxy_is_configured():
    proxy = {**SETTINGS, "webui_proxy": "nginx"}
    name = "Web UI | firewalld: http and https open for the web UI"
    model = model_for("AlmaLinux 9", "installed")
    assert by_name(plan(model, proxy, PASSWORDS))[name].commands == []  # not running: nothing
    model.firewalld = ["ssh", "dhcpv6-client"]
    model.units["firewalld.service"] = {"running": True, "enabled": True}
    commands = by_name(plan(model, proxy, PASSWORDS))[name].commands
    assert commands == ["firewall-cmd --permanent --add-service=http --add-service=https", "firewall-cmd --reload"]
    assert name not in by_name(plan(model, SETTINGS, PASSWORDS))  # no proxy: nothing opened
    model.firewalld += ["http", "https"]
    assert by_name(plan(model, proxy, PASSWORDS))[name].commands == []


def test_rspamd_4_0_0_gets_a_warning_line_and_other_releases_none(caplog):
    import logging

    model = model_for("AlmaLinux 9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    with caplog.at_level(logging.WARNING):
        plan(model, SETTINGS, PASSWORDS)
    assert "rspamd 4.2.1" not in caplog.text and "leaks a file descriptor" not in caplog.text
    model.versions["rspamd"] = "4.0.0"
    with caplog.at_level(logging.WARNING):
        ops = by_name(plan(model, SETTINGS, PASSWORDS))
    assert (
        "modelled-host: rspamd 4.0.0 leaks a file descriptor on every milter connection (fixed in 4.0.1)" in caplog.text
    )
    assert "modelled-host: rspamd 4.2.1 -> 4.0.0: upgraded since the last run" in caplog.text
    # the new release recorded, and rspamd's configuration checked again on it: nothing else changes
    changed = sorted(name for name, op in ops.items() if op.changes)
    assert changed == [
        "Activate | rspamd: check the configuration, then restart (workers, groups) or reload",
        "rspamd configuration | rspamd: the release installed, recorded",
        "rspamd: rspamd reload pending",
    ], changed
