"""The house stays easy to walk through: no module of operations/ or mailguard/ over 400 lines
(settings.py's option table aside), and no function over 60 lines outside sandbox/ and bench/."""

from __future__ import annotations

import ast
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
