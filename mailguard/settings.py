"""Every setting of the deploy, declared once: name, type, default (the seed's value), doc, check.

Each field of ``Settings`` is one setting. Its ``option()`` gives the ``Kind`` (how the type
reads in the README, how a value is normalised, what is wrong with a bad one), the default
and one line of doc; ``OPTIONS`` and the README's table are read off those fields.

Settings come from a TOML file (``MAIL_SETTINGS``, default ``settings.toml``) or from pyinfra
host data ``mail_settings``; the two controller passwords come from the environment only.
``load()`` validates everything at once, before any host is contacted, and raises
``SettingsError`` whose ``lines`` hold one line per bad value. ``inventory.py`` keeps the
result in host data (``SETTINGS_KEY``) so that the deploy does not validate again.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import names, rspamd_config
from .layout import WEBUI_PATH

PASSWORD_ENV = "RSPAMD_CONTROLLER_PASSWORD"
ENABLE_PASSWORD_ENV = "RSPAMD_ENABLE_PASSWORD"
DQS_KEY_ENV = "SPAMHAUS_DQS_KEY"  # optional: a key for Spamhaus's Data Query Service
REDIS_PASSWORD_ENV = "REDIS_REPLICATION_PASSWORD"  # with redis_primary: the group's Redis password
REDIS_PORT = 6379  # where the group's Redis primary listens, on its private_address only
SETTINGS_KEY = "mailguard_settings"  # host data: the validated Settings

_DOMAIN_RE = names.DOMAIN_RE
_LOCALPART_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}")
_SELECTOR_RE = names.SELECTOR_RE
_FOLDER_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9 ._-]{0,63}")
_PATH_RE = re.compile(r"/[A-Za-z0-9._/+@:-]*")
_URL_RE = re.compile(r"https?://[^\s\"'\\{};]+")
_SNIPPET_RE = re.compile(r"(local|override)\.d/[a-z0-9_.-]+\.(conf|inc)")


class SettingsError(Exception):
    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


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


def _is_network(value: object) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)  # type: ignore[arg-type]  # any object: a bad one raises
    except (ValueError, TypeError):
        return False
    return True


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- kinds: one per type of setting ------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    text: str  # the type as the README's table shows it
    check: Callable[[Any], str | None]  # what is wrong with a (normalised) value, or None
    normalise: Callable[[Any], Any] = lambda value: value  # the form the deploy uses; bad values pass through


def _choice(*choices: str) -> Kind:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(map(repr, choices))}, got {value!r}"
        return None

    return Kind("/".join(choices) if len(choices) > 2 else " or ".join(map(repr, choices)), check)


def _optional(kind: Kind, text: str) -> Kind:
    return Kind(
        text, lambda v: None if v is None else kind.check(v), lambda v: None if v is None else kind.normalise(v)
    )


def _ascii_or_same(convert: Callable[[object], str | None]) -> Callable[[Any], Any]:
    return lambda value: convert(value) or value


def _list_of(
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


def _ip(version: int | None) -> Kind:
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
    if _is_number(value):
        return None
    if isinstance(value, float):
        return f"must be a finite number, got {value!r}"
    return f"must be a number, got {value!r}"


def _to_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _check_positive(value: Any) -> str | None:
    return None if _is_number(value) and value > 0 else f"must be a positive number, got {value!r}"


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
NETWORK = Kind("IP network", lambda v: None if _is_network(v) else f"is not an IP address or network: {v!r}")
SNIPPETS = Kind("table", _check_snippets, _table)
SELECTORS = Kind("table", _check_selectors, _selector_table)


def _email_check(value: Any) -> str | None:
    return None if email_to_ascii(value) == value else f"is not an e-mail address: {value!r}"


def _domain_check(value: Any) -> str | None:
    return None if domain_to_ascii(value) == value else f"is not a valid domain name: {value!r}"


DOMAIN = Kind("domain", _domain_check, _ascii_or_same(domain_to_ascii))
EMAIL = Kind("e-mail", _email_check, _ascii_or_same(email_to_ascii))


@dataclass(frozen=True)
class Derived:
    """A default computed from the settings declared before it."""

    compute: Callable[[dict[str, Any]], Any]
    text: str = "derived from `domains`"


def option(kind: Kind, default: Any, doc: str) -> Any:
    """One setting: a field of ``Settings`` with its kind, default and doc."""
    return field(metadata={"kind": kind, "default": default, "doc": doc})


@dataclass(frozen=True)
class Settings:
    domains: tuple[str, ...] = option(
        _list_of(
            DOMAIN, "domain name", "list of domains", invalid="has an invalid domain name", non_empty=True, unique=True
        ),
        ["example.com"],
        "Mail domains to sign (DKIM, ARC) and publish SPF/DMARC for; the first is the primary. "
        "Internationalised names are accepted and used in their ASCII (xn--) form.",
    )
    mail_hostname: str = option(
        DOMAIN,
        Derived(lambda v: f"mail.{v['domains'][0]}"),
        "The server's host name: MX target and the name its PTR record must point to.",
    )
    server_ipv4: str | None = option(
        _optional(_ip(4), "IPv4 or null"), None, "The server's public IPv4 address (SPF, A, PTR)."
    )
    server_ipv6: str | None = option(
        _optional(_ip(6), "IPv6 or null"), None, "The server's public IPv6 address (SPF, AAAA, PTR)."
    )
    spf_all: str = option(
        _choice("-all", "~all"), "-all", "SPF's closing mechanism: fail (-all, the seed's choice) or softfail (~all)."
    )
    dkim_selector: str = option(SELECTOR, "dkim", "DKIM selector: the key is <selector>._domainkey.<domain>.")
    dkim_selectors: tuple[tuple[str, str], ...] = option(
        SELECTORS,
        {},
        "Per-domain DKIM selectors that differ from dkim_selector (domain = selector), e.g. to keep a key in use.",
    )
    dkim_key_bits: int = option(KEY_BITS, 2048, "RSA key size for newly generated DKIM keys.")
    dkim_ed25519: bool = option(
        BOOL,
        False,
        "Also sign with an Ed25519 key (RFC 8463), selector <dkim_selector>-ed25519; the RSA signature stays "
        "for receivers that do not know Ed25519.",
    )
    dkim_retire_days: int = option(
        DAYS,
        7,
        "dkim_rotate.py: days the replaced key stays published after signing switched, so that mail "
        "signed with it still verifies; then its record is to be removed and the key is retired.",
    )
    dmarc_policy: str = option(
        _choice("none", "quarantine", "reject"), "quarantine", "The p= of the published DMARC record."
    )
    dmarc_rua: tuple[str, ...] = option(
        _list_of(EMAIL, "e-mail address", "list of e-mails", invalid="has an invalid e-mail address"),
        Derived(lambda v: [f"postmaster@{v['domains'][0]}"]),
        "Where aggregate DMARC reports for our domains go (rua=); empty to omit.",
    )
    dmarc_ruf: tuple[str, ...] = option(
        _list_of(EMAIL, "e-mail address", "list of e-mails", invalid="has an invalid e-mail address"),
        Derived(lambda v: [f"postmaster@{v['domains'][0]}"]),
        "Where DMARC failure reports for our domains go (ruf=); empty to omit.",
    )
    dmarc_reporting: bool = option(
        BOOL, True, "Send DMARC aggregate reports to other domains (rspamd reporting {} and a daily timer)."
    )
    dmarc_report_email: str = option(
        EMAIL, Derived(lambda v: f"postmaster@{v['domains'][0]}"), "Sender address of the DMARC reports we send."
    )
    dmarc_report_org_name: str = option(
        TEXT, Derived(lambda v: v["domains"][0].upper()), "Organisation name in the DMARC reports we send."
    )
    resolver: str = option(
        _choice("local", "system"),
        "local",
        "DNS resolver rspamd asks (blocklists, SPF, DKIM): local runs unbound on 127.0.0.153 for rspamd alone; "
        "system uses /etc/resolv.conf, whose public resolvers the big blocklists refuse.",
    )
    dnsbl_check: bool = option(
        BOOL,
        True,
        "At the end of the deploy, ask each blocklist rspamd uses for its test point through rspamd's resolver "
        "(warns only).",
    )
    dns_check: bool = option(
        BOOL,
        True,
        "At the end of the deploy, ask the zones' authoritative servers whether the records are right (warns only).",
    )
    dns_resolver: str | None = option(
        _optional(_ip(None), "IP or null"),
        None,
        "Resolver used to find the zones and their name servers; null: the system's.",
    )
    dns_port: int = option(PORT, 53, "Port of every DNS server asked (53; another port is for test servers).")
    dns_timeout: float = option(POSITIVE, 3.0, "Seconds to wait for each DNS answer.")
    add_header_score: float = option(NUMBER, 10.0, "Score from which a message gets the spam headers (add_header).")
    greylist_score: float = option(
        NUMBER,
        20.0,
        "Score from which a message is greylisted (4xx, retried); while Redis is down it is tagged instead.",
    )
    reject_score: float | None = option(
        _optional(NUMBER, "number or null"),
        None,
        "Score from which a message is rejected; null: no reject by score (the seed), written as an unreachable 1000.",
    )
    antivirus: bool = option(BOOL, True, "Scan mail with ClamAV through rspamd; false skips ClamAV entirely.")
    antivirus_action: str = option(
        _choice("reject", "add_header", "none"),
        "reject",
        "What rspamd does with a message ClamAV flags; it always scores add_header_score (none: only that).",
    )
    phishing_openphish: bool = option(BOOL, True, "Check URLs against the OpenPhish feed.")
    openphish_url: str = option(
        URL,
        "https://raw.githubusercontent.com/openphish/public_feed/refs/heads/main/feed.txt",
        "OpenPhish feed; the URL rspamd 3.4 ships no longer loads.",
    )
    phishing_phishtank: bool = option(BOOL, True, "Check URLs against PhishTank (over DNS).")
    local_networks: tuple[str, ...] = option(
        _list_of(NETWORK, "IP address or network", "list of IPs/networks"),
        [],
        "Networks rspamd trusts as this server's own, beside loopback: their mail is DKIM-signed and skips "
        "greylisting and spam headers. rspamd's default (all private ranges) is not kept.",
    )
    whitelist_ip: tuple[str, ...] = option(
        _list_of(NETWORK, "IP address or network", "list of IPs/networks"),
        [],
        "Client IPs accepted without scanning (prefilter, action accept).",
    )
    whitelist_sender_domain: tuple[str, ...] = option(
        _list_of(DOMAIN, "domain", "list of domains"),
        [],
        "Sender domains scored -20 when SPF (envelope) or DMARC (From: header) authenticates the sender.",
    )
    whitelist_sender_email: tuple[str, ...] = option(
        _list_of(EMAIL, "e-mail address", "list of e-mails"),
        [],
        "Sender addresses scored -15 when SPF (envelope) or DMARC (From: header) authenticates the sender.",
    )
    blacklist_sender_domain: tuple[str, ...] = option(
        _list_of(DOMAIN, "domain", "list of domains"), [], "Sender domains scored +20."
    )
    blacklist_sender_domain_multi: tuple[str, ...] = option(
        _list_of(DOMAIN, "domain", "list of domains"),
        [],
        "Registered domains scored +20 with all their subdomains (email:domain:tld).",
    )
    blacklist_sender_email: tuple[str, ...] = option(
        _list_of(EMAIL, "e-mail address", "list of e-mails"), [], "Sender addresses scored +30."
    )
    webui_allow: tuple[str, ...] = option(
        _list_of(
            NETWORK, "IP address or network", "list of IPs/networks", invalid="has an invalid IP address or network"
        ),
        ["127.0.0.1/32", "::1/128"],
        "Who may reach the web UI through the reverse proxy.",
    )
    bayes_min_learns: int = option(
        MIN_LEARNS,
        200,
        "Messages of each class (spam, ham) Bayes must have learned before it scores (rspamd's min_learns).",
    )
    bayes_autolearn: bool = option(
        BOOL,
        True,
        "Bayes learns by itself: spam from greylist_score up, ham below -0.5, keeping the two classes balanced.",
    )
    dovecot_learning: bool = option(
        BOOL,
        True,
        "Where Dovecot is installed (never installed by the deploy): spam is filed into junk_folder at delivery, "
        "and moving mail into junk_folder, or out of it (not to trash_folder), teaches Bayes (IMAPSieve).",
    )
    junk_folder: str = option(FOLDER, "Junk", "The IMAP folder spam is filed into and learned from.")
    trash_folder: str = option(FOLDER, "Trash", "The IMAP folder whose arrivals from junk_folder teach nothing.")
    webui_proxy: str = option(
        _choice("none", "nginx", "openlitespeed"),
        "none",
        "Reverse proxy that publishes the web UI at https://<webui_server_name>/rspamd/ (none: loopback only).",
    )
    webui_server_name: str = option(
        DOMAIN, Derived(lambda v: v["mail_hostname"]), "Host name the proxy serves the web UI under."
    )
    webui_tls_certificate: str | None = option(
        _optional(PATH, "path or null"),
        None,
        "Certificate (full chain) for HTTPS; without one the proxy serves loopback clients only.",
    )
    webui_tls_key: str | None = option(_optional(PATH, "path or null"), None, "Private key of webui_tls_certificate.")
    webui_nginx_server: bool = option(
        BOOL,
        True,
        "nginx: write a server block for webui_server_name; false: only the locations file, "
        "for your own HTTPS server to include.",
    )
    webui_ols_vhost_conf: str = option(
        PATH,
        "/usr/local/lsws/conf/vhosts/mail/vhconf.conf",
        "OpenLiteSpeed: the virtual host configuration the web UI is added to.",
    )
    private_address: str | None = option(
        _optional(_ip(None), "IP or null"),
        None,
        "This host's address on the private network its group of MX hosts shares (Redis replication); null: none.",
    )
    redis_primary: str | None = option(
        _optional(_ip(None), "IP or null"),
        None,
        "The private_address of the group's Redis primary: every host's rspamd reads its own Redis (a replica "
        f"of the primary) and writes to the primary (port {REDIS_PORT}, password {REDIS_PASSWORD_ENV}). "
        "null: a Redis of its own, on its unix socket only.",
    )
    rspamd_source: str = option(
        _choice("upstream", "distro"),
        "upstream",
        "rspamd from rspamd's own repository (the seed) or the distribution's package (Debian only).",
    )
    rspamd_snippets: tuple[tuple[str, str], ...] = option(
        SNIPPETS, {}, "Extra files for /etc/rspamd/{local,override}.d, by relative name."
    )
    controller_password: str = field(repr=False, default="")
    enable_password: str = field(repr=False, default="")
    spamhaus_dqs_key: str = field(repr=False, default="")
    redis_password: str = field(repr=False, default="")
    # The web UIs of the host's group, (name, host, path), its own among them: filled in by the
    # inventory (targets.py) from the hosts that share a redis_primary and publish their web UI.
    neighbours: tuple[tuple[str, str, str], ...] = ()

    @property
    def primary_domain(self) -> str:
        return self.domains[0]

    @property
    def redis_role(self) -> str:
        """standalone (a Redis of its own), primary or replica (of the group's primary)."""
        if self.redis_primary is None:
            return "standalone"
        return "primary" if self.redis_primary == self.private_address else "replica"

    @property
    def webui_neighbour(self) -> tuple[str, str]:
        """(host, path) of this host's web UI behind its proxy, as rspamd's ``neighbours`` take it
        (without a port rspamd adds 11334)."""
        scheme, port = ("https", 443) if self.webui_tls_certificate else ("http", 80)
        return f"{scheme}://{self.webui_server_name}:{port}", WEBUI_PATH

    def selector_for(self, domain: str) -> str:
        return dict(self.dkim_selectors).get(domain, self.dkim_selector)

    def to_json(self) -> dict[str, Any]:
        """The settings without the passwords (pyinfra's debug-inventory prints host data this way)."""
        return {o.name: getattr(self, o.name) for o in OPTIONS}


@dataclass(frozen=True)
class Option:
    name: str
    kind: Kind
    default: Any
    doc: str


OPTIONS: tuple[Option, ...] = tuple(
    Option(f.name, f.metadata["kind"], f.metadata["default"], f.metadata["doc"])
    for f in dataclasses.fields(Settings)
    if "kind" in f.metadata
)
_BY_NAME = {o.name: o for o in OPTIONS}


def _password_problems(env: Mapping[str, str], replicated: bool) -> list[str]:
    lines = []
    redis_password = env.get(REDIS_PASSWORD_ENV, "")
    if replicated and not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", redis_password):
        what = "not set" if not redis_password else "must be 16 to 128 letters, digits, _ and -"
        lines.append(f"{REDIS_PASSWORD_ENV}: {what} (redis_primary is set: the group's Redis needs a password)")
    for var in (PASSWORD_ENV, ENABLE_PASSWORD_ENV):
        value = env.get(var, "")
        if not value:
            lines.append(f"{var}: not set (the web UI password must come from the environment)")
        elif len(value) < 8:
            lines.append(f"{var}: too short (at least 8 characters)")
    dqs_key = env.get(DQS_KEY_ENV, "")
    if dqs_key and not re.fullmatch(r"[a-z0-9]{26}", dqs_key):
        lines.append(f"{DQS_KEY_ENV}: must be the 26 lower-case letters and digits Spamhaus issued")
    if not lines and env[PASSWORD_ENV] == env[ENABLE_PASSWORD_ENV]:
        lines.append(
            f"{ENABLE_PASSWORD_ENV}: must differ from {PASSWORD_ENV}, or the read-only login could change settings"
        )
    return lines


def _combination_problems(values: dict[str, Any]) -> list[str]:
    """What is wrong with settings that are each valid but do not go together."""
    lines = []
    add, grey, reject = values["add_header_score"], values["greylist_score"], values["reject_score"]
    if reject is not None and reject <= max(add, grey):
        lines.append(f"reject_score: must be above add_header_score and greylist_score, got {reject}")
    if grey < add:
        lines.append(
            f"greylist_score: must be at least add_header_score ({add}): greylisting is for tagged mail, got {grey}"
        )
    if max(add, grey) >= rspamd_config.UNREACHABLE_SCORE:
        lines.append(f"greylist_score: must be below {rspamd_config.UNREACHABLE_SCORE}, got {max(add, grey)}")
    if values["server_ipv4"] is None and values["server_ipv6"] is None:
        lines.append("server_ipv4: set server_ipv4 or server_ipv6 (SPF and PTR need the server's address)")
    unknown = [d for d, _ in values["dkim_selectors"] if d not in values["domains"]]
    if unknown:
        lines.append(f"dkim_selectors: {', '.join(unknown)} is not one of the domains")
    if values["redis_primary"] is not None and values["private_address"] is None:
        lines.append("private_address: set it with redis_primary (the host's own address on the group's network)")
    if values["junk_folder"] == values["trash_folder"] or "INBOX" in {values["junk_folder"], values["trash_folder"]}:
        lines.append("trash_folder: junk_folder, trash_folder and INBOX must be three different folders")
    if (values["webui_tls_certificate"] is None) != (values["webui_tls_key"] is None):
        lines.append("webui_tls_key: set both webui_tls_certificate and webui_tls_key, or neither")
    networks = {n: ipaddress.ip_network(n, strict=False) for n in values["webui_allow"]}
    if values["webui_proxy"] == "openlitespeed":
        wide_v6 = [n for n, net in networks.items() if net.version == 6 and net.prefixlen < 128]
        if wide_v6:
            lines.append(
                f"webui_allow: {', '.join(wide_v6)}: with OpenLiteSpeed, list IPv6 addresses one by one (/128)"
            )
    own_tls = values["webui_proxy"] == "nginx" and not values["webui_nginx_server"]  # the admin's HTTPS server
    if values["webui_proxy"] != "none" and values["webui_tls_certificate"] is None and not own_tls:
        outside = [n for n, net in networks.items() if not net.is_loopback]
        if outside:
            lines.append(
                f"webui_allow: {', '.join(outside)} would send the web UI passwords over plain HTTP: "
                "set webui_tls_certificate and webui_tls_key, or allow only loopback"
            )
    return lines


def load(data: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> Settings:
    """Validate ``data`` (setting name -> value) and the passwords in ``env``."""
    data = dict(data or {})
    env = dict(os.environ if env is None else env)
    lines = [f"{name}: unknown setting" for name in sorted(set(data) - set(_BY_NAME))]
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        if opt.name in data:
            value = data[opt.name]
        elif isinstance(opt.default, Derived):
            try:
                value = opt.default.compute(values)
            except (KeyError, IndexError, TypeError, AttributeError):
                continue  # depends on a setting that is already reported as wrong
        else:
            value = opt.default
        value = opt.kind.normalise(value)
        problem = opt.kind.check(value)
        if problem:
            lines.append(f"{opt.name}: {problem}")
        else:
            values[opt.name] = value
    if not lines:
        lines += _combination_problems(values)
    lines += _password_problems(env, data.get("redis_primary") is not None)
    if lines:
        raise SettingsError(lines)
    return Settings(
        **values,
        controller_password=env[PASSWORD_ENV],
        enable_password=env[ENABLE_PASSWORD_ENV],
        spamhaus_dqs_key=env.get(DQS_KEY_ENV, ""),
        redis_password=env.get(REDIS_PASSWORD_ENV, "") if values["redis_primary"] is not None else "",
    )


def from_host_data(data: Any) -> Settings:
    """The settings inventory.py validated; an inventory of the admin's own gives raw ``mail_settings``."""
    stored = data.get(SETTINGS_KEY)
    return stored if isinstance(stored, Settings) else load(data.get("mail_settings"))


def warnings(settings: Settings) -> list[str]:
    """Valid values that are probably a mistake on a real server: one line each."""
    lines = []
    for name in ("server_ipv4", "server_ipv6"):
        value = getattr(settings, name)
        if value is not None and not ipaddress.ip_address(value).is_global:
            lines.append(
                f"{name}: {value} is a private, reserved or documentation address: "
                "SPF and PTR need the server's public address"
            )
    return lines


def markdown_table() -> str:
    """The README's settings table, generated from the declarations above."""
    rows = ["| setting | type | default | what it does |", "|---|---|---|---|"]
    for opt in OPTIONS:
        if isinstance(opt.default, Derived):
            default = opt.default.text
        else:
            default = f"`{opt.default!r}`".replace("None", "null").replace("True", "true").replace("False", "false")
        rows.append(f"| `{opt.name}` | {opt.kind.text} | {default} | {opt.doc} |")
    rows.append(f"| `{PASSWORD_ENV}` (env) | text | none: required | Web UI read-only password. |")
    rows.append(
        f"| `{ENABLE_PASSWORD_ENV}` (env) | text | none: required | Web UI password that may change settings. |"
    )
    rows.append(
        f"| `{DQS_KEY_ENV}` (env) | text | none | Spamhaus DQS key: rspamd asks Spamhaus's DQS zones with it "
        "(never printed). |"
    )
    rows.append(
        f"| `{REDIS_PASSWORD_ENV}` (env) | text | none: required with `redis_primary` | The group's Redis "
        "password (16 to 128 letters, digits, _ and -; never printed). |"
    )
    return "\n".join(rows)
