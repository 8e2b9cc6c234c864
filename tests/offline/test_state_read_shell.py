"""The state read's shell, run for real under dash and bash (Debian's and Enterprise Linux's sh)
over a scratch directory: what it answers, and that it never reads through a link."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess

import pytest

from operations import hoststate, readhost

SHELLS = ["dash", "bash"]


def run(shell: str, command) -> str:
    """What the host runs (``sh -c SCRIPT NAME ARGS``), under ``shell``: its output."""
    assert command.argv[:2] == ("sh", "-c")
    return subprocess.run([shell, *command.argv[1:]], capture_output=True, text=True, check=True).stdout


def read(shell: str, wants: list[hoststate.Want]) -> tuple[hoststate.Snapshot, str]:
    command, groups = readhost.state_command(wants)
    output = run(shell, command)
    lines = readhost.split_profile(output.splitlines())[1]
    return hoststate.Snapshot(readhost.parse_state(lines, groups)), output


@pytest.mark.parametrize("shell", SHELLS)
def test_texts_globs_and_password_hashes_as_the_files_are(shell, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("not for the deploy\n")
    (tmp_path / "map").write_text("entry one\nentry two\n")
    (tmp_path / "link").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo")  # opened, it would block the read for ever
    for name in ("a.cvd", "b.cvd"):
        (tmp_path / name).write_text("")
    (tmp_path / "dangling.cvd").symlink_to(tmp_path / "nowhere")
    (tmp_path / "controller").write_text('password = "$1$saltone$keyone";\n  enable_password = "$2$salttwo$keytwo";\n')
    texts = [str(tmp_path / name) for name in ("map", "link", "fifo", "missing")]
    wants = [("text", path) for path in texts]
    wants += [("glob", f"{tmp_path}/*.cvd"), ("glob", f"{tmp_path}/*.cld"), ("pwhash", str(tmp_path / "controller"))]

    state, output = read(shell, wants)

    assert [state.text(path) for path in texts] == ["entry one\nentry two\n", None, None, None]
    decoded = b"".join(base64.b64decode(line) for line in output.splitlines()[1:])
    assert b"not for the deploy" not in decoded and b"bm90IGZvciB0aGUgZGVwbG95" not in decoded
    assert state.glob(f"{tmp_path}/*.cvd") == [f"{tmp_path}/{n}" for n in ("a.cvd", "b.cvd", "dangling.cvd")]
    assert state.glob(f"{tmp_path}/*.cld") == []
    assert state.password_hashes(str(tmp_path / "controller")) == {
        "password": ("saltone", _sha256("$1$saltone$keyone")),
        "enable_password": ("salttwo", _sha256("$2$salttwo$keytwo")),
    }


def test_an_installed_package_answers_with_its_upstream_version():  # (this machine's own dpkg)
    state, _ = read("sh", [("deb", "dpkg"), ("deb", "no-such-package")])
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "dpkg"], capture_output=True, text=True, check=True
    ).stdout
    assert state.installed("deb", "dpkg") and state.package_version("deb", "dpkg") == version.split("-")[0]
    assert not state.installed("deb", "no-such-package") and state.package_version("deb", "no-such-package") is None


@pytest.mark.parametrize(
    ("line", "version"),
    [("installed 1:3.12.1-2~trixie", "3.12.1"), ("installed 3.4-1", "3.4"), ("installed", None), ("", None)],
)
def test_package_versions_are_read_without_epoch_or_packaging(line, version):
    state = hoststate.Snapshot({("rpm", "rspamd"): [line]})
    assert state.package_version("rpm", "rspamd") == version


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("shell", SHELLS)
def test_the_profile_and_the_remembered_state_read_come_back_apart_from_one_command(shell, tmp_path):
    from operations.facts import SystemProfile

    (tmp_path / "map").write_text("entry\n")
    wants = [("text", str(tmp_path / "map")), ("stat", str(tmp_path / "map")), ("glob", f"{tmp_path}/*.none")]
    command, groups = SystemProfile.command(paths=[str(tmp_path)], texts=[str(tmp_path / "map")], wants=wants)
    output = run(shell, command)
    values = SystemProfile.process(output.splitlines(), groups)
    assert values["ID"] and values["arch"] and values["exists"] == {str(tmp_path)}
    assert values["texts"] == {str(tmp_path / "map"): "entry\n"}
    state = hoststate.Snapshot(values["state"])
    assert state.text(str(tmp_path / "map")) == "entry\n" and state.stat(str(tmp_path / "map"))["mode"] == 644
    assert output.splitlines().count(readhost.STATE_MARK) == 1


def test_an_operation_reads_only_what_it_declared():
    """A question an operation did not declare is an error, never read as "absent": a read after a
    change asks only the reader's own questions."""
    answers = {("stat", "/etc/a"): ["root root 644 regular file"], ("sha256", "/etc/a"): ["00"]}
    state = hoststate.Snapshot(answers).only([("stat", "/etc/a")])
    wanted = {"user": "root", "group": "root", "mode": 644, "type": "regular file", "sha256": "00"}
    assert state.stat("/etc/a") == wanted
    with pytest.raises(readhost.Undeclared):
        state.stat("/etc/b")
    with pytest.raises(readhost.Undeclared):
        state.text("/etc/a")
