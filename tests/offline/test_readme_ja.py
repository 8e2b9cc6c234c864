"""README.ja.md says the same as README.md where it must, compared by meaning: the two commands,
the supported systems and how each is proven, the entry points, and the settings (each table
generated from the one option table, the Japanese one with Japanese descriptions). The Japanese
guide keeps each paragraph on one line: a Japanese sentence wrapped mid-way leaves a stray space
in most renderers. A change on one side alone fails here."""

from __future__ import annotations

import re

from support import ROOT

from mailguard import settings

ENGLISH = (ROOT / "README.md").read_text()
JAPANESE = (ROOT / "README.ja.md").read_text()
JAPANESE_TEXT = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def commands(text: str) -> list[str]:
    """The commands of the first shell block: the newcomer's two."""
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if not line.startswith(" ")]


def table(text: str, header: str) -> list[list[str]]:
    """The rows (cells) of the table whose first header cell is ``header``."""
    rows = text.split(f"| {header} |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows if row.startswith("|")]


def proof(cell: str) -> tuple[bool, bool, bool, bool]:
    """How a system is proven, in either language: end to end, the whole suite, offline, unverified."""
    return (
        "end to end" in cell or "e2e" in cell,
        "full suite" in cell or "テスト一式" in cell,
        "offline" in cell or "オフライン" in cell,
        "unverified" in cell or "未確認" in cell,
    )


def test_the_two_commands_are_the_same():
    assert commands(ENGLISH) == commands(JAPANESE) == ["./run deploy", "./run test"]


def test_the_supported_systems_and_how_each_is_proven_are_the_same():
    english, japanese = table(ENGLISH, "system"), table(JAPANESE, "システム")
    assert [row[0] for row in english] == [row[0] for row in japanese]
    assert [proof(row[1]) for row in english] == [proof(row[1]) for row in japanese]
    assert len(english) >= 7
    assert any(proof(row[1])[3] for row in english)  # RHEL and Oracle stay marked until traced


def test_the_entry_points_are_the_same_and_exist():
    english = [row[0].strip("`") for row in table(ENGLISH, "entry point")]
    japanese = [row[0].strip("`") for row in table(JAPANESE, "入口")]
    assert english == japanese
    on_disk = {p.name for p in ROOT.glob("*.py")} - {"inventory.py"}
    assert set(english) == on_disk


def test_the_japanese_guide_s_settings_table_is_the_generated_one_with_japanese_descriptions():
    assert settings.markdown_table("ja") in JAPANESE
    assert "| setting | type | default | what it does |" not in JAPANESE


def test_every_setting_has_a_japanese_description():
    """Each option() declares its doc in English and in Japanese; none is missing or left in English."""
    untranslated = [o.name for o in settings.OPTIONS if not JAPANESE_TEXT.search(o.ja)]
    assert untranslated == []
    assert all(JAPANESE_TEXT.search(row[4]) for row in settings.ENVIRONMENT)


def test_no_japanese_sentence_is_wrapped_mid_way():
    wrapped, fenced, previous = [], False, ""
    for number, line in enumerate(JAPANESE.splitlines(), 1):
        if line.startswith("```"):
            fenced, previous = not fenced, ""
            continue
        starts_a_block = re.match(r"\s*([-|#>]|\d+\.)", line) or not line.strip()
        if not fenced and not starts_a_block and previous.strip() and JAPANESE_TEXT.search(previous[-1:] + line[:1]):
            wrapped.append(number)
        previous = "" if fenced else line
    assert wrapped == []


def test_the_english_readme_links_the_japanese_guide_at_the_top():
    assert "README.ja.md" in "\n".join(ENGLISH.splitlines()[:5])
    assert re.search(r"\[README\.md\]\(README\.md\)", JAPANESE)
