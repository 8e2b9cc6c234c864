"""The project root and tests/ on sys.path: tests import mailguard, operations and the helpers here.
Each test keeps the questions a deploy remembers per host (operations.remembered.memory_dir) in its own folder."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def _own_memory_of_questions(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MAILGUARD_CACHE_DIR", str(tmp_path_factory.mktemp("mailguard-cache")))


def pytest_terminal_summary(terminalreporter):
    """The measured times the suites kept (support.TIMINGS: first runs, reruns, the group's
    failover), printed whatever the tests' outcome: numbers to read, never pass or fail."""
    from support import TIMINGS

    if TIMINGS:
        terminalreporter.section("measured times")
        for name, value in TIMINGS.items():  # seconds, or a count (an int)
            terminalreporter.write_line(f"{name}: {value}" if isinstance(value, int) else f"{name}: {value:.1f} s")
