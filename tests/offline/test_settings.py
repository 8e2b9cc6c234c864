"""Every bad value gets one line naming the setting; the settings reference's table is the code's."""

from pathlib import Path

import pytest
from support import PASSWORDS, SETTINGS

from mailguard import setting_kinds, settings

ROOT = Path(__file__).resolve().parents[2]

BAD = [
    ({"domains": ["exa mple.com"]}, "domains: has an invalid domain name: 'exa mple.com'"),
    ({"domains": []}, "domains: must be a non-empty list of domain names, got []"),
    ({"mail_hostname": "mail_host"}, "mail_hostname: is not a valid domain name: 'mail_host'"),
    ({"server_ipv4": "203.0.113.300"}, "server_ipv4: is not an IPv4 address: '203.0.113.300'"),
    ({"server_ipv6": "203.0.113.5"}, "server_ipv6: is not an IPv6 address: '203.0.113.5'"),
    (
        {"dkim_selector": "dkim selector"},
        "dkim_selector: is not a valid DKIM selector (lower-case DNS labels): 'dkim selector'",
    ),
    ({"dkim_key_bits": 1000}, "dkim_key_bits: must be 1024, 2048, 3072 or 4096, got 1000"),
    ({"dmarc_policy": "drop"}, "dmarc_policy: must be one of 'none', 'quarantine', 'reject', got 'drop'"),
    ({"dmarc_rua": ["postmaster"]}, "dmarc_rua: has an invalid e-mail address: 'postmaster'"),
    ({"add_header_score": "ten"}, "add_header_score: must be a number, got 'ten'"),
    ({"reject_score": 15}, "reject_score: must be above add_header_score and greylist_score, got 15.0"),
    ({"spf_all": "+all"}, "spf_all: must be one of '-all', '~all', got '+all'"),
    ({"whitelist_ip": ["10.0.0.300"]}, "whitelist_ip: has an entry that is not an IP address or network: '10.0.0.300'"),
    (
        {"blacklist_sender_email": ["nobody"]},
        "blacklist_sender_email: has an entry that is not an e-mail address: 'nobody'",
    ),
    ({"rspamd_source": "git"}, "rspamd_source: must be one of 'upstream', 'distro', got 'git'"),
    (
        {"rspamd_snippets": {"local.d/multimap.conf": "x"}},
        "rspamd_snippets: 'local.d/multimap.conf' is a file the deploy manages itself",
    ),
    ({"antivirus": "yes"}, "antivirus: must be true or false, got 'yes'"),
    ({"colour": "blue"}, "colour: unknown setting"),
]


@pytest.mark.parametrize("change,line", BAD, ids=[line.split(":")[0] for _, line in BAD])
def test_each_bad_value_gives_one_line(change, line):
    with pytest.raises(settings.SettingsError) as error:
        settings.load({**SETTINGS, **change}, PASSWORDS)
    assert error.value.lines == [line]


@pytest.mark.parametrize(
    "env,line",
    [
        ({}, "RSPAMD_CONTROLLER_PASSWORD: not set (the web UI password must come from the environment)"),
        (
            {"RSPAMD_CONTROLLER_PASSWORD": "same-password", "RSPAMD_ENABLE_PASSWORD": "same-password"},
            "RSPAMD_ENABLE_PASSWORD: must differ from RSPAMD_CONTROLLER_PASSWORD, "
            "or the read-only login could change settings",
        ),
        (
            {"RSPAMD_CONTROLLER_PASSWORD": "short", "RSPAMD_ENABLE_PASSWORD": "long-enough-1"},
            "RSPAMD_CONTROLLER_PASSWORD: too short (at least 8 characters)",
        ),
    ],
)
def test_password_problems(env, line):
    with pytest.raises(settings.SettingsError) as error:
        settings.load(SETTINGS, env)
    assert line in error.value.lines


def test_seed_values_are_the_defaults_and_stay_valid():
    loaded = settings.load({"server_ipv4": "203.0.113.25"}, PASSWORDS)
    assert (loaded.add_header_score, loaded.greylist_score, loaded.reject_score) == (10.0, 20.0, None)
    assert loaded.dkim_selector == "dkim" and loaded.dmarc_policy == "quarantine"
    assert loaded.mail_hostname == "mail.example.com" and loaded.dmarc_report_org_name == "EXAMPLE.COM"
    assert "read-only-Pa55word" not in repr(loaded)


def test_the_settings_reference_is_generated_from_the_code():
    assert settings.markdown_table() in (ROOT / "docs" / "settings.md").read_text()


def test_upper_case_and_internationalised_domains_are_normalised_to_lower_case_ascii():
    loaded = settings.load(
        {
            **SETTINGS,
            "domains": ["Example.COM", "例え.jp"],
            "whitelist_sender_email": ["Partner@Example.ORG"],
            "blacklist_sender_domain": ["スパム.example"],
        },
        PASSWORDS,
    )
    assert loaded.domains == ("example.com", "xn--r8jz45g.jp")
    assert loaded.mail_hostname == "mail.example.com"
    assert loaded.whitelist_sender_email == ("Partner@example.org",)  # the local part is the sender's own
    assert [setting_kinds.domain_for_display(d) for d in loaded.blacklist_sender_domain] == ["スパム.example"]
    assert setting_kinds.domain_for_display("xn--r8jz45g.jp") == "例え.jp"


def test_a_domain_listed_twice_in_two_spellings_is_one_domain():
    with pytest.raises(settings.SettingsError) as error:
        settings.load({**SETTINGS, "domains": ["example.com", "EXAMPLE.com"]}, PASSWORDS)
    assert error.value.lines == ["domains: lists a domain twice"]


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_scores_must_be_finite(value):
    with pytest.raises(settings.SettingsError) as error:
        settings.load({**SETTINGS, "add_header_score": value}, PASSWORDS)
    assert error.value.lines == [f"add_header_score: must be a finite number, got {value!r}"]


def test_a_trailing_newline_does_not_pass_a_pattern():
    with pytest.raises(settings.SettingsError) as error:
        settings.load({**SETTINGS, "dkim_selector": "dkim\n"}, PASSWORDS)
    assert error.value.lines[0].startswith("dkim_selector: is not a valid DKIM selector")


@pytest.mark.parametrize(
    "address, warned",
    [("192.0.2.25", True), ("10.1.2.3", True), ("203.0.113.25", True), ("198.51.100.1", True), ("8.8.8.8", False)],
)
def test_a_private_or_documentation_server_address_gets_a_warning(address, warned):
    loaded = settings.load({**SETTINGS, "server_ipv4": address}, PASSWORDS)
    lines = settings.warnings(loaded)
    assert bool(lines) == warned
    if warned:
        assert lines == [
            f"server_ipv4: {address} is a private, reserved or documentation address: "
            "SPF and PTR need the server's public address"
        ]
