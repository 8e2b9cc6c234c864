"""What a server set up by hand already signs with: read from its dkim_signing.conf and arc.conf.

The seed's configwizard writes ``domain { example.com { path = "..."; selector = "..."; } }``.
A domain signed there with another selector or key than the settings give must not be
switched silently: a published DNS record depends on that key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .layout import dkim_key_path

if TYPE_CHECKING:
    from .settings import Settings

_VALUE = r'\s*[=:]?\s*"?([^";\s}]+)"?'


def dkim_in_use(text: str, domains: list[str] | tuple[str, ...]) -> dict[str, tuple[str | None, str | None]]:
    """domain -> (selector, key path) for each of ``domains`` that ``text`` signs for."""
    text = re.sub(r"#[^\n]*", "", text)
    found: dict[str, tuple[str | None, str | None]] = {}
    for domain in domains:
        block = re.search(rf'(?:^|[\s{{"]){re.escape(domain)}"?\s*\{{([^{{}}]*)\}}', text)
        if block is None:
            continue
        selector = re.search(r"\bselector" + _VALUE, block.group(1))
        path = re.search(r"\bpath" + _VALUE, block.group(1))
        found[domain] = (selector.group(1) if selector else None, path.group(1) if path else None)
    return found


def dkim_conflicts(texts: Mapping[str, str], settings: Settings, db_dir: str) -> list[str]:
    """One line per domain that an existing configuration signs with another selector or key."""
    lines = []
    for conf, text in texts.items():
        for domain, (selector, path) in dkim_in_use(text, settings.domains).items():
            wanted_selector = settings.selector_for(domain)
            wanted_path = dkim_key_path(db_dir, domain, wanted_selector)
            if selector in (None, wanted_selector) and path in (None, wanted_path):
                continue
            use = f"selector {selector!r}" + (f" with the key {path}" if path else "")
            fix = f'set dkim_selectors = {{ "{domain}" = "{selector or wanted_selector}" }}'
            if path and path != dkim_key_path(db_dir, domain, selector or wanted_selector):
                fix += f" and move that key to {dkim_key_path(db_dir, domain, selector or wanted_selector)}"
            lines.append(f"dkim_selectors: {conf} signs {domain} with {use}; {fix}")
    return lines
