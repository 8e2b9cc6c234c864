"""What an OpenDKIM already on the host signs with: its KeyTable and SigningTable (or its single
Domain/Selector/KeyFile), read so that rspamd signs with the same keys and selectors (no new key,
no DNS change).

opendkim.conf(5): ``KeyTable`` and ``SigningTable`` name a dataset, a plain path (``file:``) or
``refile:`` (SigningTable patterns with wildcards). KeyTable lines: ``name domain:selector:keypath``
(``%`` stands for the signing domain). SigningTable lines: ``pattern name``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CONF = "/etc/opendkim.conf"  # the same on Debian and Enterprise Linux


@dataclass(frozen=True)
class OpenDkimKey:
    selector: str
    path: str


def _settings(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2:
            values[words[0].lower()] = " ".join(words[1:])
    return values


def tables(conf: str) -> dict[str, str]:
    """ "keytable"/"signingtable" -> the dataset as written (``refile:/etc/opendkim/SigningTable``)."""
    values = _settings(conf)
    return {k: values[k] for k in ("keytable", "signingtable") if k in values}


def table_path(dataset: str) -> str | None:
    """The file a plain or refile: dataset reads; None for the kinds not read here (db:, ldap:, csl:...)."""
    kind, sep, rest = dataset.partition(":")
    if not sep:
        return dataset
    return rest if kind in ("file", "refile") and rest.startswith("/") else None


def _lines(text: str) -> Iterable[list[str]]:
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2:
            yield words


def signing_keys(conf: str, texts: Mapping[str, str], domains: Iterable[str]) -> dict[str, OpenDkimKey]:
    """domain -> the key OpenDKIM signs it with, for each of ``domains`` it signs."""
    values = _settings(conf)
    found: dict[str, OpenDkimKey] = {}
    datasets = tables(conf)
    key_path = table_path(datasets.get("keytable", ""))
    signing = datasets.get("signingtable", "")
    signing_path = table_path(signing)
    if key_path and signing_path and key_path in texts and signing_path in texts:
        keys = {}
        for name, value, *_ in _lines(texts[key_path]):
            parts = value.split(":", 2)
            if len(parts) == 3:
                keys[name] = parts
        wildcards = signing.startswith("refile:")
        for domain in domains:
            for pattern, name, *_ in _lines(texts[signing_path]):
                pattern = pattern.lower()
                if wildcards:
                    hit = fnmatch.fnmatchcase(f"postmaster@{domain}", pattern) or fnmatch.fnmatchcase(domain, pattern)
                else:
                    hit = pattern in (domain, f"@{domain}")
                if hit and name in keys:
                    key_domain, selector, path = keys[name]
                    if key_domain in ("%", domain):
                        found[domain] = OpenDkimKey(selector, path)
                    break
    elif {"domain", "selector", "keyfile"} <= set(values):  # one key for the listed domains
        listed = {d.strip().lower() for d in values["domain"].split(",")}
        for domain in domains:
            if domain in listed:
                found[domain] = OpenDkimKey(values["selector"], values["keyfile"])
    return found
