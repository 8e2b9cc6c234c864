"""The kinds of value a setting takes: each one's check (one line that names what is wrong) and
its conversion (a domain to its ASCII form, a table to its entries). settings.py declares each
setting with one of these, in its option table."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import names, rspamd_config

_DOMAIN_RE = names.DOMAIN_RE
_LOCALPART_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}")
_SELECTOR_RE = names.SELECTOR_RE
_FOLDER_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9 ._-]{0,63}")
_PATH_RE = re.compile(r"/[A-Za-z0-9._/+@:-]*")
_URL_RE = re.compile(r"https?://[^\s\"'\\{};]+")
_SNIPPET_RE = re.compile(r"(local|override)\.d/[a-z0-9_.-]+\.(conf|inc)")


# --- values as the admin types them, and as rspamd, Postfix and DNS need them -------------


def domain_to_ascii(value: object) -> str | None:
    """A domain in lower case and its ASCII (IDNA) form: ``例え.JP`` -> ``xn--r8jz45g.jp``; None if invalid."""
    if not isinstance(value, str):
        return None
    try:
        ascii_form = value.lower().encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if len(ascii_form) > 253 or not _DOMAIN_RE.fullmatch(ascii_form):
        return None
    return ascii_form


def domain_for_display(domain: str) -> str:
    """The Unicode form of an IDNA domain, for people (the domain itself when it is plain ASCII)."""
    try:
        return domain.encode("ascii").decode("idna") if "xn--" in domain else domain
    except UnicodeError:
        return domain


def email_to_ascii(value: object) -> str | None:
    """An address with its domain in lower-case ASCII; None if invalid."""
    if not isinstance(value, str) or value.count("@") != 1:
        return None
    local, domain = value.split("@")
    ascii_domain = domain_to_ascii(domain)
    if ascii_domain is None or not _LOCALPART_RE.fullmatch(local):
        return None
    return f"{local}@{ascii_domain}"


def is_network(value: object) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)  # type: ignore[arg-type]  # any object: a bad one raises
    except (ValueError, TypeError):
        return False
    return True


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- kinds: one per type of setting ------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    text: str  # the type as the README's table shows it
    check: Callable[[Any], str | None]  # what is wrong with a (normalised) value, or None
    normalise: Callable[[Any], Any] = lambda value: value  # the form the deploy uses; bad values pass through


def choice(*choices: str) -> Kind:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(map(repr, choices))}, got {value!r}"
        return None

    return Kind("/".join(choices) if len(choices) > 2 else " or ".join(map(repr, choices)), check)


def optional(kind: Kind, text: str) -> Kind:
    return Kind(
        text, lambda v: None if v is None else kind.check(v), lambda v: None if v is None else kind.normalise(v)
    )


def _ascii_or_same(convert: Callable[[object], str | None]) -> Callable[[Any], Any]:
    return lambda value: convert(value) or value


def list_of(
    item: Kind, what: str, text: str, *, invalid: str = "", non_empty: bool = False, unique: bool = False
) -> Kind:
    """A list of ``item``s; ``invalid`` words a bad entry (default: "has an entry that is not a <what>")."""
    invalid = invalid or f"has an entry that is not {_article(what)}"

    def check(value: Any) -> str | None:
        if not isinstance(value, tuple) or (non_empty and not value):
            return f"must be a {'non-empty ' if non_empty else ''}list of {what}s, got {_shown(value)!r}"
        for entry in value:
            if item.check(entry):
                return f"{invalid}: {entry!r}"
        if unique and len(set(value)) != len(value):
            return f"lists a {what.split()[0]} twice"
        return None

    def normalise(value: Any) -> Any:
        return tuple(item.normalise(entry) for entry in value) if isinstance(value, list | tuple) else value

    return Kind(text, check, normalise)


def _shown(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _article(what: str) -> str:
    return f"an {what}" if what[0] in "aeiouIE" else f"a {what}"


def _text_check(pattern: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and pattern.fullmatch(value) else f"is not {what}: {value!r}"

    return check


def ip_address(version: int | None) -> Kind:
    name = f"IPv{version}" if version else "IP"

    def check(value: Any) -> str | None:
        try:
            address = ipaddress.ip_address(value)
        except (ValueError, TypeError):
            return f"is not {_article(name)} address: {value!r}"
        if version and address.version != version:
            return f"is not {_article(name)} address: {value!r}"
        return None

    return Kind(name, check)


def _check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _check_number(value: Any) -> str | None:
    if is_number(value):
        return None
    if isinstance(value, float):
        return f"must be a finite number, got {value!r}"
    return f"must be a number, got {value!r}"


def _to_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _check_positive(value: Any) -> str | None:
    return None if is_number(value) and value > 0 else f"must be a positive number, got {value!r}"


def _check_port(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        return f"must be a port number (1-65535), got {value!r}"
    return None


def _check_key_bits(value: Any) -> str | None:
    if isinstance(value, bool) or value not in (1024, 2048, 3072, 4096):
        return f"must be 1024, 2048, 3072 or 4096, got {value!r}"
    return None


def _whole_number(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be a whole number from {low} to {high}, got {value!r}"
        return None

    return check


def _check_org_name(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() and not set(value) & set('"\\\n'):
        return None
    return f"must be non-empty text on one line, without quotes or backslashes, got {value!r}"


def _check_path(value: Any) -> str | None:
    if isinstance(value, str) and _PATH_RE.fullmatch(value) and ".." not in value.split("/"):
        return None
    return f"must be an absolute path of letters, digits and ._/+@:- without '..', got {value!r}"


def _check_snippets(value: Any) -> str | None:
    if not isinstance(value, tuple):
        return f"must be a table of file name = content, got {value!r}"
    for name, content in value:
        if not isinstance(name, str) or not _SNIPPET_RE.fullmatch(name):
            return f"has a file name outside local.d/ or override.d/: {name!r}"
        if name in rspamd_config.MANAGED:
            return f"{name!r} is a file the deploy manages itself"
        if name.endswith("/" + rspamd_config.CONTROLLER.rsplit("/", 1)[1]):
            return f"{name!r} would override the controller's passwords and secure_ip"
        if not isinstance(content, str):
            return f"{name!r} must be text"
    return None


def _table(value: Any) -> Any:
    return tuple(sorted(value.items())) if isinstance(value, Mapping) else value


def _check_selectors(value: Any) -> str | None:
    if not isinstance(value, tuple):
        return f"must be a table of domain = selector, got {value!r}"
    for domain, selector in value:
        if domain_to_ascii(domain) != domain:
            return f"has an invalid domain name: {domain!r}"
        if not isinstance(selector, str) or not _SELECTOR_RE.fullmatch(selector):
            return f"{domain}: is not a valid DKIM selector (lower-case DNS labels): {selector!r}"
    return None


def _selector_table(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((domain_to_ascii(k) or k, v) for k, v in value.items()))
    return value


BOOL = Kind("bool", _check_bool)
NUMBER = Kind("number", _check_number, _to_float)
POSITIVE = Kind("number", _check_positive, _to_float)
PORT = Kind("integer", _check_port)
KEY_BITS = Kind("integer", _check_key_bits)
SELECTOR = Kind("selector", _text_check(_SELECTOR_RE, "a valid DKIM selector (lower-case DNS labels)"))
PATH = Kind("path", _check_path)
URL = Kind("URL", _text_check(_URL_RE, "an http(s) URL"))
TEXT = Kind("text", _check_org_name)
# An IMAP folder name that goes into a Sieve string and Dovecot's configuration as it is.
FOLDER = Kind(
    "folder", _text_check(_FOLDER_RE, "a folder name of letters, digits, spaces and ._- (not starting with .)")
)
MIN_LEARNS = Kind("integer", _whole_number(1, 100000))
DAYS = Kind("integer", _whole_number(0, 3650))
NETWORK = Kind("IP network", lambda v: None if is_network(v) else f"is not an IP address or network: {v!r}")
SNIPPETS = Kind("table", _check_snippets, _table)
SELECTORS = Kind("table", _check_selectors, _selector_table)


def _email_check(value: Any) -> str | None:
    return None if email_to_ascii(value) == value else f"is not an e-mail address: {value!r}"


def _domain_check(value: Any) -> str | None:
    return None if domain_to_ascii(value) == value else f"is not a valid domain name: {value!r}"


DOMAIN = Kind("domain", _domain_check, _ascii_or_same(domain_to_ascii))
EMAIL = Kind("e-mail", _email_check, _ascii_or_same(email_to_ascii))
