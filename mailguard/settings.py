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

from . import rspamd_config, sentinel
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
REDIS_PORT = sentinel.REDIS_PORT  # the group's Redis port: each host's tunnel end on its private_address
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
    ja: str = "`domains` から決まります"


def option(kind: Kind, default: Any, doc: str, ja: str) -> Any:
    """One setting: a field of ``Settings`` with its kind, default, and doc in English and in
    Japanese (``ja``, for README.ja.md's table)."""
    return field(metadata={"kind": kind, "default": default, "doc": doc, "ja": ja})


@dataclass(frozen=True)
class Settings:
    domains: tuple[str, ...] = option(
        list_of(
            DOMAIN, "domain name", "list of domains", invalid="has an invalid domain name", non_empty=True, unique=True
        ),
        ["example.com"],
        "Mail domains to sign (DKIM, ARC) and publish SPF/DMARC for; the first is the primary. "
        "Internationalised names are accepted and used in their ASCII (xn--) form.",
        ja=(
            "署名（DKIM、ARC）し、SPF と DMARC を公開するメールドメイン。先頭が主ドメインです。"
            "日本語ドメイン名も使え、ASCII（xn--）形式で扱います。"
        ),
    )
    mail_hostname: str = option(
        DOMAIN,
        Derived(lambda v: f"mail.{v['domains'][0]}"),
        "The server's host name: MX target and the name its PTR record must point to.",
        ja="サーバーのホスト名。MX の向き先で、逆引き（PTR）もこの名前を指している必要があります。",
    )
    server_ipv4: str | None = option(
        optional(ip_address(4), "IPv4 or null"),
        None,
        "The server's public IPv4 address (SPF, A, PTR).",
        ja="サーバーのグローバル IPv4 アドレス（SPF、A、PTR に使います）。",
    )
    server_ipv6: str | None = option(
        optional(ip_address(6), "IPv6 or null"),
        None,
        "The server's public IPv6 address (SPF, AAAA, PTR).",
        ja="サーバーのグローバル IPv6 アドレス（SPF、AAAA、PTR に使います）。",
    )
    spf_all: str = option(
        choice("-all", "~all"),
        "-all",
        "SPF's closing mechanism: fail (-all, the seed's choice) or softfail (~all).",
        ja="SPF レコードの末尾。-all（認証失敗として扱う。記事の設定）か ~all（ソフトフェイル）。",
    )
    dkim_selector: str = option(
        SELECTOR,
        "dkim",
        "DKIM selector: the key is <selector>._domainkey.<domain>.",
        ja="DKIM のセレクタ名。公開鍵のレコード名は <selector>._domainkey.<domain> になります。",
    )
    dkim_selectors: tuple[tuple[str, str], ...] = option(
        SELECTORS,
        {},
        "Per-domain DKIM selectors that differ from dkim_selector (domain = selector), e.g. to keep a key in use.",
        ja=(
            "dkim_selector とは別のセレクタを使うドメイン（ドメイン = セレクタ）。"
            "使用中の鍵を使い続けるときなどに指定します。"
        ),
    )
    dkim_key_bits: int = option(
        KEY_BITS, 2048, "RSA key size for newly generated DKIM keys.", ja="新しく作る DKIM 鍵（RSA）のビット数。"
    )
    dkim_ed25519: bool = option(
        BOOL,
        False,
        "Also sign with an Ed25519 key (RFC 8463), selector <RSA selector>-ed25519; the RSA signature stays "
        "for receivers that do not know Ed25519. dkim_rotate.py makes the key, and signing with it begins once "
        "every authoritative server serves its record; a rotation then rotates both keys.",
        ja=(
            "Ed25519 鍵（RFC 8463）でも署名します。セレクタは <RSA 鍵のセレクタ>-ed25519 です。"
            "Ed25519 に対応していない受信側のために、RSA の署名も残します。鍵は dkim_rotate.py が作り、"
            "その DNS レコードをすべての権威サーバーが返すようになってから署名を始めます。"
            "鍵の交換では両方の鍵を交換します。"
        ),
    )
    dkim_retire_days: int = option(
        DAYS,
        7,
        "dkim_rotate.py: days the replaced key stays published after signing switched, so that mail "
        "signed with it still verifies; then its record is to be removed and the key is retired.",
        ja=(
            "dkim_rotate.py で署名を新しい鍵に切り替えたあと、古い鍵を公開しておく日数。"
            "その間に届いたメールの署名を検証できるようにするためです。過ぎたらレコードを削除し、鍵を退役させます。"
        ),
    )
    dmarc_policy: str = option(
        choice("none", "quarantine", "reject"),
        "quarantine",
        "The p= of the published DMARC record.",
        ja="公開する DMARC レコードの p=。",
    )
    dmarc_rua: tuple[str, ...] = option(
        list_of(EMAIL, "e-mail address", "list of e-mails", invalid="has an invalid e-mail address"),
        Derived(lambda v: [f"postmaster@{v['domains'][0]}"]),
        "Where aggregate DMARC reports for our domains go (rua=); empty to omit.",
        ja="自ドメインの DMARC 集計レポートの送り先（rua=）。空にすると書きません。",
    )
    dmarc_ruf: tuple[str, ...] = option(
        list_of(EMAIL, "e-mail address", "list of e-mails", invalid="has an invalid e-mail address"),
        Derived(lambda v: [f"postmaster@{v['domains'][0]}"]),
        "Where DMARC failure reports for our domains go (ruf=); empty to omit.",
        ja="自ドメインの DMARC 失敗レポートの送り先（ruf=）。空にすると書きません。",
    )
    dmarc_reporting: bool = option(
        BOOL,
        True,
        "Send DMARC aggregate reports to other domains (rspamd reporting {} and a daily timer).",
        ja="他ドメインに DMARC 集計レポートを送ります（rspamd の reporting {} と毎日動くタイマー）。",
    )
    dmarc_report_email: str = option(
        EMAIL,
        Derived(lambda v: f"postmaster@{v['domains'][0]}"),
        "Sender address of the DMARC reports we send.",
        ja="送信する DMARC レポートの差出人アドレス。",
    )
    dmarc_report_org_name: str = option(
        TEXT,
        Derived(lambda v: v["domains"][0].upper()),
        "Organisation name in the DMARC reports we send.",
        ja="送信する DMARC レポートに書く組織名。",
    )
    resolver: str = option(
        choice("local", "system"),
        "local",
        "DNS resolver rspamd asks (blocklists, SPF, DKIM): local runs unbound on 127.0.0.153 for rspamd alone; "
        "system uses /etc/resolv.conf, whose public resolvers the big blocklists refuse.",
        ja=(
            "rspamd が使う DNS リゾルバー（ブロックリスト、SPF、DKIM の問い合わせ）。"
            "local は rspamd 専用の unbound を 127.0.0.153 で動かします。"
            "system は /etc/resolv.conf のリゾルバーを使いますが、"
            "そこにある公開リゾルバーは大手のブロックリストに拒否されます。"
        ),
    )
    dnsbl_check: bool = option(
        BOOL,
        True,
        "At the end of the deploy, ask each blocklist rspamd uses for its test point through rspamd's resolver "
        "(warns only).",
        ja=(
            "デプロイの最後に、rspamd が使う各ブロックリストのテスト用の名前を、"
            "rspamd と同じリゾルバーで問い合わせます（結果は警告だけ）。"
        ),
    )
    dns_check: bool = option(
        BOOL,
        True,
        "At the end of the deploy, ask the zones' authoritative servers whether the records are right (warns only).",
        ja=(
            "デプロイの最後に、各ゾーンの権威サーバーにレコードが正しく登録されているか問い合わせます"
            "（結果は警告だけ）。"
        ),
    )
    dns_resolver: str | None = option(
        optional(ip_address(None), "IP or null"),
        None,
        "Resolver used to find the zones and their name servers; null: the system's.",
        ja="ゾーンとそのネームサーバーを探すのに使うリゾルバー。null ならシステムのもの。",
    )
    dns_port: int = option(
        PORT,
        53,
        "Port of every DNS server asked (53; another port is for test servers).",
        ja="問い合わせる DNS サーバーのポート（通常は 53。ほかの値はテスト用のサーバー向け）。",
    )
    dns_timeout: float = option(POSITIVE, 3.0, "Seconds to wait for each DNS answer.", ja="DNS の応答を待つ秒数。")
    add_header_score: float = option(
        NUMBER,
        10.0,
        "Score from which a message gets the spam headers (add_header).",
        ja="迷惑メールであることを示すヘッダーを付けるスコア（add_header）。",
    )
    greylist_score: float = option(
        NUMBER,
        20.0,
        "Score from which a message is greylisted (4xx, retried); while Redis is down it is tagged instead.",
        ja=(
            "グレイリスト（4xx で一時的に拒否して再送させる）にするスコア。Redis が止まっている間は、"
            "代わりにヘッダーを付けます。"
        ),
    )
    reject_score: float | None = option(
        optional(NUMBER, "number or null"),
        None,
        "Score from which a message is rejected; null: no reject by score (the seed), written as an unreachable 1000.",
        ja=(
            "受信を拒否するスコア。null ならスコアによる拒否はしません（記事の設定。"
            "到達しない値 1000 として書きます）。"
        ),
    )
    antivirus: bool = option(
        BOOL,
        True,
        "Scan mail with ClamAV through rspamd; false skips ClamAV entirely.",
        ja="rspamd から ClamAV でメールを検査します。false なら ClamAV をまったく使いません。",
    )
    antivirus_action: str = option(
        choice("reject", "add_header", "none"),
        "reject",
        "What rspamd does with a message ClamAV flags. The virus adds add_header_score to its score; with none"
        " that is all, and rspamd's signs of ordinary mail can still keep it below add_header.",
        ja=(
            "ClamAV がウイルスを見つけたメールに rspamd がとる処置。ウイルスはスコアに add_header_score を加えます。"
            "none ではそれだけなので、ほかの規則の減点によって add_header に届かないことがあります。"
        ),
    )
    phishing_openphish: bool = option(
        BOOL, True, "Check URLs against the OpenPhish feed.", ja="URL を OpenPhish のフィードと照合します。"
    )
    openphish_url: str = option(
        URL,
        "https://raw.githubusercontent.com/openphish/public_feed/refs/heads/main/feed.txt",
        "OpenPhish feed; the URL rspamd 3.4 ships no longer loads.",
        ja="OpenPhish のフィードの URL。rspamd 3.4 に入っている既定の URL はもう読み込めません。",
    )
    phishing_phishtank: bool = option(
        BOOL, True, "Check URLs against PhishTank (over DNS).", ja="URL を PhishTank と照合します（DNS で問い合わせ）。"
    )
    local_networks: tuple[str, ...] = option(
        list_of(NETWORK, "IP address or network", "list of IPs/networks"),
        [],
        "Networks rspamd trusts as this server's own, beside loopback: their mail is DKIM-signed and skips "
        "greylisting and spam headers. rspamd's default (all private ranges) is not kept.",
        ja=(
            "ループバックのほかに、rspamd がこのサーバー自身のものとして信頼するネットワーク。"
            "ここから送られたメールには DKIM 署名を付け、グレイリストとスパムのヘッダーの対象外にします。"
            "rspamd の既定（プライベートアドレス全体）は使いません。"
        ),
    )
    whitelist_ip: tuple[str, ...] = option(
        list_of(NETWORK, "IP address or network", "list of IPs/networks"),
        [],
        "Client IPs accepted without scanning (prefilter, action accept).",
        ja="検査せずに受け入れる接続元の IP アドレス（プレフィルター、action accept）。",
    )
    whitelist_sender_domain: tuple[str, ...] = option(
        list_of(DOMAIN, "domain", "list of domains"),
        [],
        "Sender domains scored -20 when SPF (envelope) or DMARC (From: header) authenticates the sender.",
        ja="SPF（エンベロープ）か DMARC（From: ヘッダー）で送信者が確認できたとき、スコアを -20 する送信元ドメイン。",
    )
    whitelist_sender_email: tuple[str, ...] = option(
        list_of(EMAIL, "e-mail address", "list of e-mails"),
        [],
        "Sender addresses scored -15 when SPF (envelope) or DMARC (From: header) authenticates the sender.",
        ja="SPF（エンベロープ）か DMARC（From: ヘッダー）で送信者が確認できたとき、スコアを -15 する送信元アドレス。",
    )
    blacklist_sender_domain: tuple[str, ...] = option(
        list_of(DOMAIN, "domain", "list of domains"),
        [],
        "Sender domains scored +20.",
        ja="スコアを +20 する送信元ドメイン。",
    )
    blacklist_sender_domain_multi: tuple[str, ...] = option(
        list_of(DOMAIN, "domain", "list of domains"),
        [],
        "Registered domains scored +20 with all their subdomains (email:domain:tld).",
        ja="サブドメインも含めてスコアを +20 する登録ドメイン（email:domain:tld）。",
    )
    blacklist_sender_email: tuple[str, ...] = option(
        list_of(EMAIL, "e-mail address", "list of e-mails"),
        [],
        "Sender addresses scored +30.",
        ja="スコアを +30 する送信元アドレス。",
    )
    webui_allow: tuple[str, ...] = option(
        list_of(
            NETWORK, "IP address or network", "list of IPs/networks", invalid="has an invalid IP address or network"
        ),
        ["127.0.0.1/32", "::1/128"],
        "Who may reach the web UI through the reverse proxy.",
        ja="リバースプロキシ経由で Web UI に接続できる接続元。",
    )
    bayes_min_learns: int = option(
        MIN_LEARNS,
        200,
        "Messages of each class (spam, ham) Bayes must have learned before it scores (rspamd's min_learns).",
        ja=(
            "Bayes がスコアを付け始めるまでに、スパムとハム（正常なメール）"
            "それぞれについて学習しておく必要があるメールの数（rspamd の min_learns）。"
        ),
    )
    bayes_autolearn: bool = option(
        BOOL,
        True,
        "Bayes learns by itself: spam from greylist_score up, ham below -0.5, keeping the two classes balanced.",
        ja=(
            "Bayes が自動で学習します。greylist_score 以上のメールをスパム、-0.5 未満をハムとして、"
            "二つの数の釣り合いを保ちながら学習します。"
        ),
    )
    local_fuzzy: bool = option(
        BOOL,
        True,
        "A fuzzy hash storage of this host's own (rspamd's fuzzy worker, in Redis): every message users file as "
        "spam (learn.py, moves into junk_folder) is hashed into it, so that the same campaign scores "
        "LOCAL_FUZZY_DENIED for every user; a message moved out of junk_folder is taken out again.",
        ja=(
            "このサーバー専用のファジーハッシュの保管所（rspamd の fuzzy ワーカー、Redis に保存）。"
            "ユーザーが迷惑メールとして分類したメール（learn.py、junk_folder への移動）のハッシュを登録し、"
            "同じ送信キャンペーンのメールにはどのユーザー宛でも LOCAL_FUZZY_DENIED が付きます。"
            "junk_folder から移したメールは登録を取り消します。"
        ),
    )
    dovecot_learning: bool = option(
        BOOL,
        True,
        "Where Dovecot is installed (never installed by the deploy): spam is filed into junk_folder at delivery, "
        "and moving mail into junk_folder, or out of it (not to trash_folder), teaches Bayes (IMAPSieve).",
        ja=(
            "Dovecot が入っている場合（デプロイが Dovecot をインストールすることはありません）、"
            "迷惑メールを配送時に junk_folder に振り分け、junk_folder へ移したメールと、そこから移したメール"
            "（trash_folder へ移したものは除く）を Bayes に学習させます（IMAPSieve）。"
        ),
    )
    junk_folder: str = option(
        FOLDER,
        "Junk",
        "The IMAP folder spam is filed into and learned from.",
        ja="迷惑メールを振り分け、学習にも使う IMAP フォルダー。",
    )
    trash_folder: str = option(
        FOLDER,
        "Trash",
        "The IMAP folder whose arrivals from junk_folder teach nothing.",
        ja="junk_folder から移しても何も学習しない IMAP フォルダー（ごみ箱）。",
    )
    webui_proxy: str = option(
        choice("none", "nginx", "openlitespeed"),
        "none",
        "Reverse proxy that publishes the web UI at https://<webui_server_name>/rspamd/ (none: loopback only).",
        ja=(
            "Web UI を https://<webui_server_name>/rspamd/ で公開するリバースプロキシ"
            "（none ならループバックからだけ使えます）。"
        ),
    )
    webui_server_name: str = option(
        DOMAIN,
        Derived(lambda v: v["mail_hostname"], "`mail_hostname`", "`mail_hostname` と同じ"),
        "Host name the proxy serves the web UI under.",
        ja="プロキシが Web UI を公開するホスト名。",
    )
    webui_tls_certificate: str | None = option(
        optional(PATH, "path or null"),
        None,
        "Certificate (full chain) for HTTPS; without one the proxy serves loopback clients only.",
        ja="HTTPS の証明書（中間証明書を含むもの）。指定しないと、プロキシはループバックからの接続にだけ応えます。",
    )
    webui_tls_key: str | None = option(
        optional(PATH, "path or null"),
        None,
        "Private key of webui_tls_certificate.",
        ja="webui_tls_certificate の秘密鍵。",
    )
    webui_nginx_server: bool = option(
        BOOL,
        True,
        "nginx: write a server block for webui_server_name; false: only the locations file, "
        "for your own HTTPS server to include.",
        ja=(
            "nginx で、webui_server_name の server ブロックを書きます。false なら locations ファイルだけを書き、"
            "自分の HTTPS の server ブロックから include してもらいます。"
        ),
    )
    webui_ols_vhost_conf: str = option(
        PATH,
        "/usr/local/lsws/conf/vhosts/mail/vhconf.conf",
        "OpenLiteSpeed: the virtual host configuration the web UI is added to.",
        ja="OpenLiteSpeed で、Web UI を追加するバーチャルホストの設定ファイル。",
    )
    private_address: str | None = option(
        optional(ip_address(None), "IP or null"),
        None,
        "The address this host's group of MX hosts reaches it at (a private network's, or a public one: the "
        "group's Redis traffic is in TLS and fenced to the group); null: none.",
        ja=(
            "MX ホストのグループのほかのホストが、このホストに接続するときのアドレス（プライベートネットワークのもの、"
            "またはグローバルなもの。グループの Redis の通信は TLS で暗号化され、グループのホストだけに制限されます）。"
            "null なら使いません。"
        ),
    )
    redis_primary: str | None = option(
        optional(ip_address(None), "IP or null"),
        None,
        "The private_address of the group's Redis primary: every other host's Redis is its replica, and every "
        f"rspamd writes to the primary (port {REDIS_PORT}, in TLS, fenced to the group; users from "
        f"{REDIS_PASSWORD_ENV}). In a group of three or more, the first primary: the group's sentinels "
        "promote a replica when it is lost. null: a Redis of its own, on its unix socket only.",
        ja=(
            "グループの Redis プライマリの private_address。ほかのホストの Redis はそのレプリカになり、各ホストの"
            " rspamd はプライマリに書きます（ポート 6379、TLS で暗号化、グループのホストからだけ接続でき、ユーザーの"
            "パスワードは REDIS_REPLICATION_PASSWORD から導きます）。3台以上のグループでは最初のプライマリで、"
            "失われるとセンチネルがレプリカを昇格させます。null なら、そのホストだけの Redis を unix ソケットでだけ"
            "使います。"
        ),
    )
    rspamd_source: str = option(
        choice("upstream", "distro"),
        "upstream",
        "rspamd from rspamd's own repository (the seed) or the distribution's package (Debian only).",
        ja=(
            "rspamd を rspamd 公式のリポジトリから入れる（記事の方法）か、ディストリビューションのパッケージを使う"
            "（Debian のみ）か。"
        ),
    )
    rspamd_snippets: tuple[tuple[str, str], ...] = option(
        SNIPPETS,
        {},
        "Extra files for /etc/rspamd/{local,override}.d, by relative name.",
        ja="/etc/rspamd/{local,override}.d に置く追加のファイル（相対パスで指定）。",
    )
    controller_password: str = field(repr=False, default="")
    enable_password: str = field(repr=False, default="")
    spamhaus_dqs_key: str = field(repr=False, default="")
    redis_password: str = field(repr=False, default="")
    # The web UIs of the host's group, (name, host, path), its own among them: filled in by the
    # inventory (targets.py) from the hosts that share a redis_primary and publish their web UI.
    neighbours: tuple[tuple[str, str, str], ...] = ()
    # The private_address of every host of the group, its own among them: filled in by the
    # inventory (targets.py); the only addresses the group's Redis port admits (the fence).
    group_addresses: tuple[str, ...] = ()

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
    def redis_failover(self) -> bool:
        """Whether the group's sentinels choose its primary (mailguard/sentinel.py): a group of three
        or more hosts, known from one inventory. Otherwise redis_primary is the primary."""
        return self.redis_role != "standalone" and len(self.group_addresses) >= sentinel.MIN_HOSTS

    @property
    def webui_https(self) -> bool:
        """Whether the proxy publishes the web UI over HTTPS: with webui_tls_certificate, or inside
        the admin's own HTTPS server (nginx's locations file, webui_nginx_server = false)."""
        own_https = self.webui_proxy == "nginx" and not self.webui_nginx_server
        return self.webui_proxy != "none" and (self.webui_tls_certificate is not None or own_https)

    @property
    def webui_neighbour(self) -> tuple[str, str]:
        """(host, path) of this host's web UI behind its proxy, as rspamd's ``neighbours`` take it
        (without a port rspamd adds 11334)."""
        scheme, port = ("https", 443) if self.webui_https else ("http", 80)
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
    ja: str


OPTIONS: tuple[Option, ...] = tuple(
    Option(f.name, f.metadata["kind"], f.metadata["default"], f.metadata["doc"], f.metadata["ja"])
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


# The settings read from the environment: (name, default in English, in Japanese, doc, doc in Japanese).
ENVIRONMENT = (
    (PASSWORD_ENV, "none: required", "なし（必須）", "Web UI read-only password.", "Web UI の閲覧用パスワード。"),
    (
        ENABLE_PASSWORD_ENV,
        "none: required",
        "なし（必須）",
        "Web UI password that may change settings.",
        "Web UI で設定を変更できるパスワード。",
    ),
    (
        DQS_KEY_ENV,
        "none",
        "なし",
        "Spamhaus DQS key: rspamd asks Spamhaus's DQS zones with it (never printed).",
        "Spamhaus DQS のキー。rspamd はこのキーで Spamhaus の DQS ゾーンに問い合わせます"
        "（表示されることはありません）。",
    ),
    (
        REDIS_PASSWORD_ENV,
        "none: required with `redis_primary`",
        "なし（`redis_primary` を使うときは必須）",
        "The group's Redis secret, from which each Redis user's password is derived (16 to 128 letters, "
        "digits, _ and -; never printed, and in no file on the hosts).",
        "グループの Redis の秘密の値。Redis の各ユーザーのパスワードはここから導きます（英数字と _ と - で"
        " 16〜128 文字。表示されることはなく、ホストのどのファイルにも残りません）。",
    ),
)


def markdown_table(language: str = "en") -> str:
    """The settings table of docs/settings.md (``language`` "en") or README.ja.md ("ja"),
    generated from the declarations above."""
    japanese = language == "ja"
    header = "| 設定 | 型 | 既定値 | 説明 |" if japanese else "| setting | type | default | what it does |"
    rows = [header, "|---|---|---|---|"]
    for opt in OPTIONS:
        if isinstance(opt.default, Derived):
            default = opt.default.ja if japanese else opt.default.text
        else:
            default = f"`{opt.default!r}`".replace("None", "null").replace("True", "true").replace("False", "false")
        rows.append(f"| `{opt.name}` | {opt.kind.text} | {default} | {opt.ja if japanese else opt.doc} |")
    for name, default, default_ja, doc, doc_ja in ENVIRONMENT:
        kind = "テキスト（環境変数）" if japanese else "text (env)"
        rows.append(f"| `{name}` | {kind} | {default_ja if japanese else default} | {doc_ja if japanese else doc} |")
    return "\n".join(rows)
