"""Every setting of the deploy: name, type, default (the seed's value), one line of doc.

Settings come from a TOML file (``MAIL_SETTINGS``, default ``settings.toml``) or from
pyinfra host data ``mail_settings``; the two controller passwords come from the
environment only.  ``load()`` validates everything at once and raises
``SettingsError`` whose ``lines`` hold one line per bad value.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from . import rspamd_config

PASSWORD_ENV = "RSPAMD_CONTROLLER_PASSWORD"
ENABLE_PASSWORD_ENV = "RSPAMD_ENABLE_PASSWORD"

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^(?:{_LABEL}\.)+[a-z][a-z0-9-]{{0,62}}$")
_LOCALPART_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}$")
_SELECTOR_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


class SettingsError(Exception):
    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def is_domain(value: str) -> bool:
    return isinstance(value, str) and len(value) <= 253 and bool(_DOMAIN_RE.match(value))


def is_email(value: str) -> bool:
    if not isinstance(value, str) or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    return bool(_LOCALPART_RE.match(local)) and is_domain(domain.lower())


@dataclass(frozen=True)
class Option:
    name: str
    kind: str  # shown in the README table
    default: Any  # a value, or a callable of the partly built values (derived defaults)
    doc: str
    check: Callable[[Any], str | None]  # returns what is wrong, or None


def _str_in(*choices: str) -> Callable[[Any], str | None]:
    def check(value):
        if value not in choices:
            return f"must be one of {', '.join(map(repr, choices))}, got {value!r}"
        return None

    return check


def _bool(value):
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _domain(value):
    if not is_domain(value):
        return f"is not a valid lower-case domain name: {value!r}"
    return None


def _domains(value):
    if not isinstance(value, list) or not value:
        return f"must be a non-empty list of domain names, got {value!r}"
    for item in value:
        if not is_domain(item):
            return f"has an invalid domain name: {item!r}"
    if len(set(value)) != len(value):
        return "lists a domain twice"
    return None


def _email(value):
    return None if is_email(value) else f"is not an e-mail address: {value!r}"


def _emails(value):
    if not isinstance(value, list):
        return f"must be a list of e-mail addresses, got {value!r}"
    for item in value:
        if not is_email(item):
            return f"has an invalid e-mail address: {item!r}"
    return None


def _optional_ip(version: int):
    def check(value):
        if value is None:
            return None
        try:
            address = ipaddress.ip_address(value)
        except (ValueError, TypeError):
            return f"is not an IPv{version} address: {value!r}"
        if address.version != version:
            return f"is not an IPv{version} address: {value!r}"
        return None

    return check


def _networks(value):
    if not isinstance(value, list):
        return f"must be a list of IP addresses or networks, got {value!r}"
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except (ValueError, TypeError):
            return f"has an invalid IP address or network: {item!r}"
    return None


def _selector(value):
    if not isinstance(value, str) or not _SELECTOR_RE.match(value):
        return f"is not a valid DKIM selector (lower-case DNS labels): {value!r}"
    return None


def _key_bits(value):
    if value not in (1024, 2048, 3072, 4096) or isinstance(value, bool):
        return f"must be 1024, 2048, 3072 or 4096, got {value!r}"
    return None


def _score(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number, got {value!r}"
    return None


def _optional_score(value):
    return None if value is None else _score(value)


def _path(value):
    if not isinstance(value, str) or not value.startswith("/") or ".." in value.split("/") or any(c in value for c in " \n\t;'\"{}"):
        return f"must be an absolute path without spaces, quotes or '..', got {value!r}"
    return None


def _optional_path(value):
    return None if value is None else _path(value)


def _optional_any_ip(value):
    if value is None:
        return None
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return f"is not an IP address: {value!r}"
    return None


def _port(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        return f"must be a port number (1-65535), got {value!r}"
    return None


def _positive(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return f"must be a positive number, got {value!r}"
    return None


def _map_entries(pattern: Callable[[str], bool], what: str):
    def check(value):
        if not isinstance(value, list):
            return f"must be a list of {what}, got {value!r}"
        for item in value:
            if not isinstance(item, str) or not pattern(item):
                return f"has an entry that is not {what}: {item!r}"
        return None

    return check


def _is_network(item: str) -> bool:
    try:
        ipaddress.ip_network(item, strict=False)
        return True
    except ValueError:
        return False


def _url(value):
    if not isinstance(value, str) or not re.match(r"^https?://[^\s\"']+$", value):
        return f"is not an http(s) URL: {value!r}"
    return None


def _snippets(value):
    if not isinstance(value, dict):
        return f"must be a table of file name = content, got {value!r}"
    for name, content in value.items():
        if not re.match(r"^(local|override)\.d/[a-z0-9_.-]+\.(conf|inc)$", name):
            return f"has a file name outside local.d/ or override.d/: {name!r}"
        if name in rspamd_config.MANAGED:
            return f"{name!r} is a file the deploy manages itself"
        if not isinstance(content, str):
            return f"{name!r} must be text"
    return None


OPTIONS: tuple[Option, ...] = (
    Option("domains", "list of domains", ["example.com"],
           "Mail domains to sign (DKIM, ARC) and publish SPF/DMARC for; the first is the primary.", _domains),
    Option("mail_hostname", "domain", lambda v: f"mail.{v['domains'][0]}",
           "The server's host name: MX target and the name its PTR record must point to.", _domain),
    Option("server_ipv4", "IPv4 or null", None, "The server's public IPv4 address (SPF, A, PTR).", _optional_ip(4)),
    Option("server_ipv6", "IPv6 or null", None, "The server's public IPv6 address (SPF, AAAA, PTR).", _optional_ip(6)),
    Option("spf_all", "'-all' or '~all'", "-all",
           "SPF's closing mechanism: fail (-all, the seed's choice) or softfail (~all).", _str_in("-all", "~all")),
    Option("dkim_selector", "selector", "dkim", "DKIM selector: the key is <selector>._domainkey.<domain>.", _selector),
    Option("dkim_key_bits", "integer", 2048, "RSA key size for newly generated DKIM keys.", _key_bits),
    Option("dmarc_policy", "none/quarantine/reject", "quarantine", "The p= of the published DMARC record.",
           _str_in("none", "quarantine", "reject")),
    Option("dmarc_rua", "list of e-mails", lambda v: [f"postmaster@{v['domains'][0]}"],
           "Where aggregate DMARC reports for our domains go (rua=); empty to omit.", _emails),
    Option("dmarc_ruf", "list of e-mails", lambda v: [f"postmaster@{v['domains'][0]}"],
           "Where DMARC failure reports for our domains go (ruf=); empty to omit.", _emails),
    Option("dmarc_reporting", "bool", True,
           "Send DMARC aggregate reports to other domains (rspamd reporting {} and a daily timer).", _bool),
    Option("dmarc_report_email", "e-mail", lambda v: f"postmaster@{v['domains'][0]}",
           "Sender address of the DMARC reports we send.", _email),
    Option("dmarc_report_org_name", "text", lambda v: v["domains"][0].upper(),
           "Organisation name in the DMARC reports we send.",
           lambda x: None if isinstance(x, str) and x.strip() and '"' not in x else f"must be non-empty text without quotes, got {x!r}"),
    Option("dns_check", "bool", True,
           "At the end of the deploy, ask the zones' authoritative servers whether the records are right (warns only).", _bool),
    Option("dns_resolver", "IP or null", None,
           "Resolver used to find the zones and their name servers; null: the system's.", _optional_any_ip),
    Option("dns_port", "integer", 53, "Port of every DNS server asked (53; another port is for test servers).", _port),
    Option("dns_timeout", "number", 3.0, "Seconds to wait for each DNS answer.", _positive),
    Option("add_header_score", "number", 10.0, "Score from which a message gets the spam headers (add_header).", _score),
    Option("greylist_score", "number", 20.0, "Score from which a message is greylisted (4xx, retried).", _score),
    Option("reject_score", "number or null", None, "Score from which a message is rejected; null disables reject (the seed).", _optional_score),
    Option("antivirus", "bool", True, "Scan mail with ClamAV through rspamd; false skips ClamAV entirely.", _bool),
    Option("antivirus_action", "reject/add_header/none", "reject",
           "What rspamd does with a message ClamAV flags.", _str_in("reject", "add_header", "none")),
    Option("phishing_openphish", "bool", True, "Check URLs against the OpenPhish feed.", _bool),
    Option("openphish_url", "URL", "https://raw.githubusercontent.com/openphish/public_feed/refs/heads/main/feed.txt",
           "OpenPhish feed; the URL rspamd 3.4 ships no longer loads.", _url),
    Option("phishing_phishtank", "bool", True, "Check URLs against PhishTank (over DNS).", _bool),
    Option("whitelist_ip", "list of IPs/networks", [], "Client IPs accepted without scanning (prefilter, action accept).",
           _map_entries(_is_network, "an IP address or network")),
    Option("whitelist_sender_domain", "list of domains", [], "Sender domains scored -20.", _map_entries(is_domain, "a domain")),
    Option("whitelist_sender_email", "list of e-mails", [], "Sender addresses scored -15.", _map_entries(is_email, "an e-mail address")),
    Option("blacklist_sender_domain", "list of domains", [], "Sender domains scored +20.", _map_entries(is_domain, "a domain")),
    Option("blacklist_sender_domain_multi", "list of domains", [],
           "Registered domains scored +20 with all their subdomains (email:domain:tld).", _map_entries(is_domain, "a domain")),
    Option("blacklist_sender_email", "list of e-mails", [], "Sender addresses scored +30.", _map_entries(is_email, "an e-mail address")),
    Option("webui_allow", "list of IPs/networks", ["127.0.0.1/32", "::1/128"],
           "Who may reach the web UI through the reverse proxy.", _networks),
    Option("webui_proxy", "none/nginx/openlitespeed", "none",
           "Reverse proxy that publishes the web UI at https://<webui_server_name>/rspamd/ (none: loopback only).",
           _str_in("none", "nginx", "openlitespeed")),
    Option("webui_server_name", "domain", lambda v: v["mail_hostname"], "Host name the proxy serves the web UI under.", _domain),
    Option("webui_tls_certificate", "path or null", None,
           "Certificate (full chain) for HTTPS; without one the proxy serves loopback clients only.", _optional_path),
    Option("webui_tls_key", "path or null", None, "Private key of webui_tls_certificate.", _optional_path),
    Option("webui_nginx_server", "bool", True,
           "nginx: write a server block for webui_server_name; false: only the locations file, for your own HTTPS server to include.",
           _bool),
    Option("webui_ols_vhost_conf", "path", "/usr/local/lsws/conf/vhosts/mail/vhconf.conf",
           "OpenLiteSpeed: the virtual host configuration the web UI is added to.", _path),
    Option("rspamd_source", "upstream/distro", "upstream",
           "rspamd from rspamd's own repository (the seed) or the distribution's package (Debian only).",
           _str_in("upstream", "distro")),
    Option("rspamd_snippets", "table", {}, "Extra files for /etc/rspamd/{local,override}.d, by relative name.", _snippets),
)

_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    domains: tuple[str, ...]
    mail_hostname: str
    server_ipv4: str | None
    server_ipv6: str | None
    spf_all: str
    dkim_selector: str
    dkim_key_bits: int
    dmarc_policy: str
    dmarc_rua: tuple[str, ...]
    dmarc_ruf: tuple[str, ...]
    dmarc_reporting: bool
    dmarc_report_email: str
    dmarc_report_org_name: str
    dns_check: bool
    dns_resolver: str | None
    dns_port: int
    dns_timeout: float
    add_header_score: float
    greylist_score: float
    reject_score: float | None
    antivirus: bool
    antivirus_action: str
    phishing_openphish: bool
    openphish_url: str
    phishing_phishtank: bool
    whitelist_ip: tuple[str, ...]
    whitelist_sender_domain: tuple[str, ...]
    whitelist_sender_email: tuple[str, ...]
    blacklist_sender_domain: tuple[str, ...]
    blacklist_sender_domain_multi: tuple[str, ...]
    blacklist_sender_email: tuple[str, ...]
    webui_allow: tuple[str, ...]
    webui_proxy: str
    webui_server_name: str
    webui_tls_certificate: str | None
    webui_tls_key: str | None
    webui_nginx_server: bool
    webui_ols_vhost_conf: str
    rspamd_source: str
    rspamd_snippets: tuple[tuple[str, str], ...]
    controller_password: str = field(repr=False, default="")
    enable_password: str = field(repr=False, default="")

    @property
    def primary_domain(self) -> str:
        return self.domains[0]


def _freeze(value):
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    return value


def _password_problems(env: dict[str, str]) -> list[str]:
    lines = []
    for var in (PASSWORD_ENV, ENABLE_PASSWORD_ENV):
        value = env.get(var, "")
        if not value:
            lines.append(f"{var}: not set (the web UI password must come from the environment)")
        elif len(value) < 8:
            lines.append(f"{var}: too short (at least 8 characters)")
    if not lines and env[PASSWORD_ENV] == env[ENABLE_PASSWORD_ENV]:
        lines.append(f"{ENABLE_PASSWORD_ENV}: must differ from {PASSWORD_ENV}, or the read-only login could change settings")
    return lines


def load(data: dict[str, Any] | None, env: dict[str, str] | None = None) -> Settings:
    """Validate ``data`` (setting name -> value) and the passwords in ``env``."""
    data = dict(data or {})
    env = dict(os.environ if env is None else env)
    lines = [f"{name}: unknown setting" for name in sorted(set(data) - set(_BY_NAME))]
    values: dict[str, Any] = {}
    for option in OPTIONS:
        if option.name in data:
            value = data[option.name]
            if option.check in (_score, _optional_score, _positive) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
        elif callable(option.default):
            try:
                value = option.default(values)
            except (KeyError, IndexError, TypeError, AttributeError):
                continue  # depends on a setting that is already reported as wrong
        else:
            value = option.default
        problem = option.check(value)
        if problem:
            lines.append(f"{option.name}: {problem}")
        else:
            values[option.name] = value

    if not lines:
        add, grey, reject = values["add_header_score"], values["greylist_score"], values["reject_score"]
        if reject is not None and reject <= max(add, grey):
            lines.append(f"reject_score: must be above add_header_score and greylist_score, got {reject}")
        if values["server_ipv4"] is None and values["server_ipv6"] is None:
            lines.append("server_ipv4: set server_ipv4 or server_ipv6 (SPF and PTR need the server's address)")
        if (values["webui_tls_certificate"] is None) != (values["webui_tls_key"] is None):
            lines.append("webui_tls_key: set both webui_tls_certificate and webui_tls_key, or neither")
        if values["webui_proxy"] == "openlitespeed":
            networks = {n: ipaddress.ip_network(n, strict=False) for n in values["webui_allow"]}
            wide_v6 = [n for n, net in networks.items() if net.version == 6 and net.prefixlen < 128]
            if wide_v6:
                lines.append(f"webui_allow: {', '.join(wide_v6)}: with OpenLiteSpeed, list IPv6 addresses one by one (/128)")
        own_tls = values["webui_proxy"] == "nginx" and not values["webui_nginx_server"]  # the admin's HTTPS server
        if values["webui_proxy"] != "none" and values["webui_tls_certificate"] is None and not own_tls:
            outside = [n for n in values["webui_allow"] if not ipaddress.ip_network(n, strict=False).is_loopback]
            if outside:
                lines.append(
                    f"webui_allow: {', '.join(outside)} would send the web UI passwords over plain HTTP: "
                    "set webui_tls_certificate and webui_tls_key, or allow only loopback"
                )
    lines += _password_problems(env)
    if lines:
        raise SettingsError(lines)
    return Settings(
        **{name: _freeze(value) for name, value in values.items()},
        controller_password=env[PASSWORD_ENV],
        enable_password=env[ENABLE_PASSWORD_ENV],
    )


def markdown_table() -> str:
    """The README's settings table, generated from OPTIONS."""
    rows = ["| setting | type | default | what it does |", "|---|---|---|---|"]
    for option in OPTIONS:
        default = "derived from `domains`" if callable(option.default) else f"`{option.default!r}`"
        default = default.replace("None", "null").replace("True", "true").replace("False", "false")
        rows.append(f"| `{option.name}` | {option.kind} | {default} | {option.doc} |")
    rows.append(f"| `{PASSWORD_ENV}` (env) | text | none: required | Web UI read-only password. |")
    rows.append(f"| `{ENABLE_PASSWORD_ENV}` (env) | text | none: required | Web UI password that may change settings. |")
    return "\n".join(rows)
