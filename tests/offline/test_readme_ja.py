"""README.ja.md says the same as README.md where it must: the settings, the two commands and the
supported systems (#23). A change on one side alone fails here."""

from __future__ import annotations

import re

from support import ROOT

from mailguard import settings

ENGLISH = (ROOT / "README.md").read_text()
JAPANESE = (ROOT / "README.ja.md").read_text()


def commands(text: str) -> list[str]:
    """The commands of the first shell block: the newcomer's two."""
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if not line.startswith(" ")]


def systems(text: str) -> list[str]:
    """The first column of the table that starts with "| system |"."""
    table = text.split("| system |", 1)[1].split("\n\n", 1)[0]
    return [row.split("|")[1].strip() for row in table.splitlines()[2:] if row.startswith("|")]


def test_the_settings_table_is_the_generated_one_in_both():
    table = settings.markdown_table()
    assert table in ENGLISH and table in JAPANESE


def test_the_two_commands_are_the_same():
    assert commands(ENGLISH) == commands(JAPANESE) == ["./run deploy", "./run test"]


def test_the_supported_systems_are_the_same():
    assert systems(ENGLISH) == systems(JAPANESE)
    assert len(systems(ENGLISH)) >= 7


def test_the_english_readme_links_the_japanese_guide_at_the_top():
    assert "README.ja.md" in "\n".join(ENGLISH.splitlines()[:5])
    assert re.search(r"\[README\.md\]\(README\.md\)", JAPANESE)
