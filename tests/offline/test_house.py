"""The house stays easy to walk through: no module of operations/ or mailguard/ over 400 lines
(settings.py's option table aside), no function over 60 lines outside sandbox/ and bench/, and
per-host data passed down as parameters (a HostContext), never parked in a module global."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
MODULE_LINES, FUNCTION_LINES = 400, 60
PRODUCT = sorted([*(ROOT / "operations").glob("*.py"), *(ROOT / "mailguard").glob("*.py"), *ROOT.glob("*.py")])


def _lines_outside_the_option_table(path: Path) -> int:
    text = path.read_text()
    lines = len(text.splitlines())
    if path.name == "settings.py":
        table = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == "Settings")
        lines -= table.end_lineno - table.lineno + 1  # type: ignore[operator]
    return lines


def test_no_module_is_over_its_size():
    over = {str(p.relative_to(ROOT)): n for p in PRODUCT if (n := _lines_outside_the_option_table(p)) > MODULE_LINES}
    assert over == {}


def test_no_function_is_over_its_size():
    over = {}
    for path in PRODUCT:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if length > FUNCTION_LINES:
                    over[f"{path.relative_to(ROOT)}:{node.name}"] = length
    assert over == {}


OPERATIONS = sorted((ROOT / "operations").glob("*.py"))
# Where pyinfra itself hands over the host being planned: the commands' entry functions, and the
# packaged ``mail_filter`` deploy. Everything below them is given the host's context.
HANDED_OVER = {"entry.py", "mail_filter.py"}


def _calls(path: Path, name: str) -> list[int]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                found.append(node.lineno)
    return found


def test_no_module_keeps_per_host_data_in_a_global():
    """No weak-keyed cache (of hosts or runs) anywhere: a run's shared data lives on pyinfra's
    State (run.py), each host's in the HostContext handed down."""
    users = {str(p.relative_to(ROOT)) for p in PRODUCT if "WeakKeyDictionary" in p.read_text()}
    assert users == set()
    module_level = {}
    for path in OPERATIONS:
        for node in ast.parse(path.read_text()).body:
            annotation = ast.unparse(node.annotation) if isinstance(node, ast.AnnAssign) else ""
            if re.search(r"\b(Host|State)\b", annotation):
                module_level[path.name] = annotation
    assert module_level == {}


def test_only_the_entry_points_take_the_host_from_pyinfra():
    takers = {p.name: lines for p in OPERATIONS if (lines := _calls(p, "handed_over"))}
    assert set(takers) <= HANDED_OVER, takers
    proxies = {p.name for p in OPERATIONS if "_get_module" in p.read_text()}
    assert proxies == {"run.py"}


def test_every_step_and_helper_types_what_it_is_given():
    untyped = []
    for path in OPERATIONS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args
                for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
                    if arg.arg in {"settings", "ctx", "platform", "reads", "target"} and arg.annotation is None:
                        untyped.append(f"{path.name}:{node.name}({arg.arg})")
    assert untyped == []


def test_each_reading_operation_declares_what_it_reads_once():
    """A reading operation's questions are its decorator's; its body gets the answers as ``state``
    and never asks again (two lists of the same questions drift apart)."""
    asking_again = []
    for path in OPERATIONS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", "") == "operation_reading"
                for d in node.decorator_list
            ):
                if "state" not in {a.arg for a in node.args.kwonlyargs}:
                    asking_again.append(f"{path.name}:{node.name} takes no state")
                if any(isinstance(n, ast.Attribute) and n.attr == "snapshot" for n in ast.walk(node)):
                    asking_again.append(f"{path.name}:{node.name} asks again")
    assert asking_again == []
