"""Root never runs text built by formatting: every remote command is a program and its arguments,
quoted in one place (operations/commands.py), and host logic lives in templates/tools scripts that
shellcheck passes. These read the code itself, so a new command built from a string fails here."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

from mailguard import layout
from operations.commands import TOOLS_SOURCE
from operations.templating import render

ROOT = Path(__file__).resolve().parent.parent.parent
THE_ONE_PLACE = ROOT / "operations" / "commands.py"
SOURCES = sorted(
    [*(ROOT / "operations").glob("*.py"), *(ROOT / "mailguard").glob("*.py"), *ROOT.glob("*.py")],
)


def _violations(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Name) and node.id in ("StringCommand", "QuoteString", "make_formatted_string_command"):
            found.append(f"{where}: {node.id}")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "shlex":
            found.append(f"{where}: shlex.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "shlex":
            found.append(f"{where}: from shlex import")
        # an operation (a generator) that yields a string yields shell text
        if isinstance(node, (ast.Yield, ast.YieldFrom)) and node.value is not None:
            value = node.value
            if isinstance(value, (ast.JoinedStr, ast.BinOp)) or (
                isinstance(value, ast.Constant) and isinstance(value.value, str)
            ):
                found.append(f"{where}: yields text")
            formatting = isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            if formatting and value.func.attr in ("format", "join", "replace"):  # type: ignore[union-attr]
                found.append(f"{where}: yields formatted text")
        # a fact or a host command given text rather than a Command
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "run_shell_command" and node.args and not isinstance(node.args[0], ast.Name):
                found.append(f"{where}: run_shell_command with an expression")
            if node.func.attr == "shell" and any(k.arg == "commands" for k in node.keywords):
                for keyword in node.keywords:
                    if keyword.arg == "commands" and isinstance(keyword.value, ast.List):
                        for item in keyword.value.elts:
                            if not (isinstance(item, ast.Call) and getattr(item.func, "id", "") == "Command"):
                                found.append(f"{where}: server.shell with text")
    return found


def test_no_remote_command_is_built_from_a_string():
    found = [v for path in SOURCES if path != THE_ONE_PLACE for v in _violations(path)]
    assert found == []


def test_the_check_finds_what_it_looks_for(tmp_path):
    """The check can fail: each way of building shell text is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import shlex\n"
        "from pyinfra.api import StringCommand\n"
        "def op(path):\n"
        "    yield f'rm -f {path}'\n"
        "    yield 'postconf -e ' + path\n"
        "    yield '{} {}'.format('mv', path)\n"
        "    yield StringCommand('mv', path)\n"
        "    yield 'echo ' + shlex.quote(path)\n"
    )
    found = {line.split(": ", 1)[1] for line in _violations(bad, tmp_path)}
    assert found == {"StringCommand", "shlex.quote", "yields text", "yields formatted text"}


def _scripts() -> list[tuple[str, str]]:
    """Every tool script as the host gets it: the plain ones as they are, the templates rendered."""
    from support import PASSWORDS, SETTINGS

    from mailguard import rspamd_config, settings
    from operations.activate import tools_context

    found = [(path.name, path.read_text()) for path in sorted(TOOLS_SOURCE.glob("*.sh"))]
    context = {
        **tools_context(),
        "layout": layout,
        "settings": settings.load(SETTINGS, PASSWORDS),  # local_fuzzy on: the longer scripts
        **rspamd_config.FUZZY_CONTEXT,
    }
    found += [(path.name, render(f"tools/{path.name}", **context)) for path in sorted(TOOLS_SOURCE.glob("*.sh.j2"))]
    return found


@pytest.mark.parametrize(("name", "text"), _scripts(), ids=[name for name, _ in _scripts()])
def test_every_tool_script_passes_shellcheck(name, text, tmp_path):
    assert shutil.which("shellcheck"), "shellcheck is not installed (./run test installs it)"
    path = tmp_path / name.removesuffix(".j2")
    path.write_text(text)
    result = subprocess.run(["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
