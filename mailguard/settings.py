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
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import rspamd_config
from .layout import WEBUI_PATH
from .setting_kinds import (
    BOOL,
    DAYS,
    DOMAIN,
    EMAIL,
    FOLDER,
    KEY_BITS,
    MIN_LEARNS,
    NETWORK,
    NUMBER,
    PATH,
    PORT,
    POSITIVE,
    SELECTOR,
    SELECTORS,
    SNIPPETS,
    TEXT,
    URL,
    Kind,
    choice,
    ip_address,
    list_of,
    optional,
)

PASSWORD_ENV = "RSPAMD_CONTROLLER_PASSWORD"
ENABLE_PASSWORD_ENV = "RSPAMD_ENABLE_PASSWORD"
DQS_KEY_ENV = "SPAMHAUS_DQS_KEY"  # optional: a key for Spamhaus's Data Query Service
REDIS_PASSWORD_ENV = "REDIS_REPLICATION_PASSWORD"  # with redis_primary: the group's Redis password
REDIS_PORT = 6379  # where the group's Redis primary listens, on its private_address only
SETTINGS_KEY = "mailguard_settings"  # host data: the validated Settings


class SettingsError(Exception):
    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


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
        list_of(
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
        optional(ip_address(4), "IPv4 or null"), None, "The server's public IPv4 address (SPF, A, PTR)."
    )
    server_ipv6: str | None = option(
        optional(ip_address(6), "IPv6 or null"), None, "The server's public IPv6 address (SPF, AAAA, PTR)."
    )
    spf_all: str = option(
        choice("-all", "~all"), "-all", "SPF's closing mechanism: fail (-all, the seed's choice) or softfail (~all)."
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
        choice("none", "quarantine", "reject"), "quarantine", "The p= of the published DMARC record."
    )
    dmarc_rua: tuple[str, ...] = option(
        list_of(EMAIL, "e-mail address", "list of e-mails", invalid="has an invalid e-mail address"),
        Derived(lambda v: [f"postmaster@{v['domains'][0]}"]),
        "Where aggregate DMARC reports for our domains go (rua=); empty to omit.",
    )
    dmarc_ruf: tuple[str, ...] = option(
        list_of(EMAIL, "e-mail address", "list of e-mails", invalid="has an invalid e-mail address"),
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
        choice("local", "system"),
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
        optional(ip_address(None), "IP or null"),
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
        optional(NUMBER, "number or null"),
        None,
        "Score from which a message is rejected; null: no reject by score (the seed), written as an unreachable 1000.",
    )
    antivirus: bool = option(BOOL, True, "Scan mail with ClamAV through rspamd; false skips ClamAV entirely.")
    antivirus_action: str = option(
        choice("reject", "add_header", "none"),
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
        list_of(NETWORK, "IP address or network", "list of IPs/networks"),
        [],
        "Networks rspamd trusts as this server's own, beside loopback: their mail is DKIM-signed and skips "
        "greylisting and spam headers. rspamd's default (all private ranges) is not kept.",
    )
    whitelist_ip: tuple[str, ...] = option(
        list_of(NETWORK, "IP address or network", "list of IPs/networks"),
        [],
        "Client IPs accepted without scanning (prefilter, action accept).",
    )
    whitelist_sender_domain: tuple[str, ...] = option(
        list_of(DOMAIN, "domain", "list of domains"),
        [],
        "Sender domains scored -20 when SPF (envelope) or DMARC (From: header) authenticates the sender.",
    )
    whitelist_sender_email: tuple[str, ...] = option(
        list_of(EMAIL, "e-mail address", "list of e-mails"),
        [],
        "Sender addresses scored -15 when SPF (envelope) or DMARC (From: header) authenticates the sender.",
    )
    blacklist_sender_domain: tuple[str, ...] = option(
        list_of(DOMAIN, "domain", "list of domains"), [], "Sender domains scored +20."
    )
    blacklist_sender_domain_multi: tuple[str, ...] = option(
        list_of(DOMAIN, "domain", "list of domains"),
        [],
        "Registered domains scored +20 with all their subdomains (email:domain:tld).",
    )
    blacklist_sender_email: tuple[str, ...] = option(
        list_of(EMAIL, "e-mail address", "list of e-mails"), [], "Sender addresses scored +30."
    )
    webui_allow: tuple[str, ...] = option(
        list_of(
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
        choice("none", "nginx", "openlitespeed"),
        "none",
        "Reverse proxy that publishes the web UI at https://<webui_server_name>/rspamd/ (none: loopback only).",
    )
    webui_server_name: str = option(
        DOMAIN, Derived(lambda v: v["mail_hostname"]), "Host name the proxy serves the web UI under."
    )
    webui_tls_certificate: str | None = option(
        optional(PATH, "path or null"),
        None,
        "Certificate (full chain) for HTTPS; without one the proxy serves loopback clients only.",
    )
    webui_tls_key: str | None = option(optional(PATH, "path or null"), None, "Private key of webui_tls_certificate.")
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
        optional(ip_address(None), "IP or null"),
        None,
        "This host's address on the private network its group of MX hosts shares (Redis replication); null: none.",
    )
    redis_primary: str | None = option(
        optional(ip_address(None), "IP or null"),
        None,
        "The private_address of the group's Redis primary: every host's rspamd reads its own Redis (a replica "
        f"of the primary) and writes to the primary (port {REDIS_PORT}, password {REDIS_PASSWORD_ENV}). "
        "null: a Redis of its own, on its unix socket only.",
    )
    rspamd_source: str = option(
        choice("upstream", "distro"),
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
