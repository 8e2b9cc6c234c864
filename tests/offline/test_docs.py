"""The docs cannot drift from the code: every environment variable, repository file, setting and
entry point they name exists, every setting is in the settings reference, and every preflight
refusal has its line in the troubleshooting page."""

from __future__ import annotations

import re

import pytest
from support import ROOT
from test_refusals import CASES

from mailguard import settings

DOCS = sorted([ROOT / "README.md", ROOT / "README.ja.md", *(ROOT / "docs").glob("*.md")])
# where the names the docs quote must be found: everything but the docs themselves
CODE = "\n".join(
    path.read_text(errors="replace")
    for pattern in ("*.py", "run", "operations/*.py", "mailguard/*.py", "sandbox/*.py", "bench/*.py", "tests/**/*.py",
                    "templates/**/*", ".ci/*")
    for path in ROOT.glob(pattern)
    if path.is_file()
)  # fmt: skip
REPO_DIRS = ("operations/", "mailguard/", "sandbox/", "templates/", "tests/", "bench/", "docs/")


def quoted(path) -> list[str]:
    """The `...` spans of a doc, outside its code blocks."""
    return re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", path.read_text(), flags=re.S))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_environment_variable_a_doc_names_is_read_by_the_code(doc):
    named = {v for span in quoted(doc) for v in re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", span)}
    assert sorted(v for v in named if v not in CODE) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_repository_file_a_doc_names_exists(doc):
    missing = []
    for span in quoted(doc):
        if span.startswith("artifacts/"):  # written by the tests: one of them names it
            if span.split("/")[-1] not in CODE:
                missing.append(span)
        elif span.startswith("tests/") and "::" in span:  # a test's node id: its file and its function
            file, _, function = span.partition("::")
            if not (ROOT / file).exists() or f"def {function}(" not in (ROOT / file).read_text():
                missing.append(span)
        elif span.startswith(REPO_DIRS) and not re.search(r"[<\s]", span):
            if not list(ROOT.glob(span.rstrip("/"))):
                missing.append(span)
        elif (
            re.fullmatch(r"test_\w+\.py", span)
            and not list(ROOT.glob(f"tests/**/{span}"))
            or (
                re.fullmatch(r"(local|override)\.d/[\w.-]+\.(conf|inc)", span)
                and not (ROOT / "templates" / "rspamd" / f"{span}.j2").exists()
            )
        ):
            missing.append(span)
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_setting_a_doc_sets_exists(doc):
    """`name = value` names a setting of ours, or one of another program's that the deploy writes."""
    names = {o.name for o in settings.OPTIONS}
    unknown = set()
    for span in quoted(doc):
        match = re.match(r"([a-z][a-z0-9_]*) = ", span)
        if match and match[1] not in names and not re.search(rf"\b{match[1]}\b", CODE):
            unknown.add(match[1])
    assert unknown == set()


def test_every_entry_point_the_docs_run_exists():
    run = {m for doc in DOCS for m in re.findall(r"(?<!\w)inventory\.py (\w+\.py)", doc.read_text())}
    assert run and sorted(m for m in run if not (ROOT / m).exists()) == []


def test_every_setting_is_in_the_settings_reference():
    reference = (ROOT / "docs" / "settings.md").read_text()
    assert [o.name for o in settings.OPTIONS if f"| `{o.name}` |" not in reference] == []


def test_every_preflight_refusal_has_its_line_in_troubleshooting():
    page = (ROOT / "docs" / "troubleshooting.md").read_text()
    assert [label for label, _, _, line in CASES if line not in page] == []
