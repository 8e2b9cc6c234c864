"""A server set up by hand as the seed says, taken over by the deploy: nothing the admin made is lost.

Planned by pyinfra's engine over a modelled host that followed the seed: the wizard's DKIM key,
the six maps in local.d/ with entries and comments, OpenDKIM beside rspamd in Postfix, its own
thresholds and milter headers, and `rspamadm pw` hashes.
"""

from __future__ import annotations

import logging

from hostmodel import HostModel, apply, converge, plan
from support import PASSWORDS, SETTINGS

from mailguard import dkim
from mailguard.layout import original

CONF = "/etc/rspamd"
KEY = "/var/lib/rspamd/dkim/example.com.dkim.key"
SEED_BLACKLIST = "# partners who spam\nspam@bad.example.net\nbulk@mailer.example.org\n# end\n"
SEED_WHITELIST_IP = "198.51.100.7\n"
SEED_ACTIONS = "reject = null;\nadd_header = 8;\ngreylist = 15;\n"
SEED_CONTROLLER = 'password = "$2$abc$def";\nenable_password = "$2$ghi$jkl";\n'
SEED_MILTERS = "inet:localhost:8891, inet:localhost:11332"
WIZARD_KEY = dkim.generate_private_key_pem(1024).decode()


def seed_host() -> HostModel:
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)  # packages and the like; then the admin's own files:
    for path in list(model.files):
        if path.startswith((CONF, "/var/lib/mailguard/")) or path == KEY:
            del model.files[path]
    own = {"user": "root", "group": "root", "mode": 644}
    rspamd = {"user": "_rspamd", "group": "_rspamd", "mode": 644}
    model.files[f"{CONF}/local.d/blacklist_sender_email.map"] = {"text": SEED_BLACKLIST, **rspamd}
    model.files[f"{CONF}/local.d/whitelist_ip.map"] = {"text": SEED_WHITELIST_IP, **rspamd}
    model.files[f"{CONF}/override.d/actions.conf"] = {"text": SEED_ACTIONS, **own}
    model.files[f"{CONF}/local.d/worker-controller.inc"] = {"text": SEED_CONTROLLER, **own}
    model.files[KEY] = {"text": WIZARD_KEY, "user": "_rspamd", "group": "_rspamd", "mode": 600}
    model.postconf["smtpd_milters"] = SEED_MILTERS
    model.postconf["non_smtpd_milters"] = SEED_MILTERS
    return model


def test_the_first_run_keeps_merges_and_lists_what_it_replaces(caplog):
    model = seed_host()
    with caplog.at_level(logging.WARNING):
        plans = converge(model, SETTINGS, PASSWORDS)
    said = caplog.text
    assert not any(op.changes for op in plans[-1]), [op.name for op in plans[-1] if op.changes]

    # The seed's map entries keep scoring: merged into maps.d/ with comments and order, no duplicates.
    merged = model.files[f"{CONF}/local.d/maps.d/blacklist_sender_email.map"]["text"]
    assert merged == SEED_BLACKLIST  # SETTINGS lists spam@bad.example.net too: not twice
    assert model.files[f"{CONF}/local.d/maps.d/whitelist_ip.map"]["text"] == SEED_WHITELIST_IP
    assert model.files[f"{CONF}/local.d/blacklist_sender_email.map"]["text"].startswith("# mailguard: this list moved")
    assert model.files[original(f"{CONF}/local.d/blacklist_sender_email.map")]["text"] == SEED_BLACKLIST

    # Postfix: OpenDKIM stays first, rspamd's milter is there once; OpenDKIM is named, not removed.
    assert model.postconf["smtpd_milters"] == SEED_MILTERS
    assert model.postconf["non_smtpd_milters"] == SEED_MILTERS
    assert "smtpd_milters keeps inet:localhost:8891: OpenDKIM duplicates what rspamd now does" in said

    # Replaced files the admin wrote: kept, and listed with where.
    assert model.files[original(f"{CONF}/override.d/actions.conf")]["text"] == SEED_ACTIONS
    assert model.files[original(f"{CONF}/local.d/worker-controller.inc")]["text"] == SEED_CONTROLLER
    for path in ("override.d/actions.conf", "local.d/worker-controller.inc"):
        kept = original(f"{CONF}/{path}")
        assert f"replacing {CONF}/{path}, which mailguard did not write: your version is kept in {kept}" in said

    # The wizard's key is adopted byte for byte.
    assert model.files[KEY]["text"] == WIZARD_KEY


def test_a_dry_run_previews_the_same_list_and_changes_nothing(caplog):
    model = seed_host()
    with caplog.at_level(logging.WARNING):
        plan(model, SETTINGS, PASSWORDS)  # planning is what --dry shows
    assert "replacing /etc/rspamd/override.d/actions.conf, which mailguard did not write" in caplog.text
    assert "its entries now live in /etc/rspamd/local.d/maps.d/blacklist_sender_email.map" in caplog.text
    assert model.files[f"{CONF}/override.d/actions.conf"]["text"] == SEED_ACTIONS


def test_a_later_edit_of_a_managed_file_is_put_back_without_touching_the_kept_original(caplog):
    model = seed_host()
    converge(model, SETTINGS, PASSWORDS)
    model.files[f"{CONF}/override.d/actions.conf"]["text"] += "# edited again\n"
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        apply(model, plan(model, SETTINGS, PASSWORDS))
    assert "which mailguard did not write" not in caplog.text  # it is ours now: only put back
    assert model.files[original(f"{CONF}/override.d/actions.conf")]["text"] == SEED_ACTIONS


def test_a_milter_list_without_rspamd_gets_it_once_at_the_end():
    model = seed_host()
    model.postconf["smtpd_milters"] = "unix:/run/opendmarc/opendmarc.sock"
    model.postconf["non_smtpd_milters"] = ""
    converge(model, SETTINGS, PASSWORDS)
    assert model.postconf["smtpd_milters"] == "unix:/run/opendmarc/opendmarc.sock, inet:localhost:11332"
    assert model.postconf["non_smtpd_milters"] == "inet:localhost:11332"


WIZARD_SIGNING = """# written by rspamadm configwizard
domain {
  example.com {
    path = "/var/lib/rspamd/dkim/example.com.mail2024.key";
    selector = "mail2024";
  }
}
"""


def test_a_domain_signed_with_another_selector_stops_the_deploy_before_any_change():
    from operations.preflight import PreflightError

    model = seed_host()
    model.files[f"{CONF}/local.d/dkim_signing.conf"] = {
        "text": WIZARD_SIGNING,
        "user": "root",
        "group": "root",
        "mode": 644,
    }
    model.asked.clear()
    try:
        plan(model, SETTINGS, PASSWORDS)
    except PreflightError as refusal:
        line = str(refusal)
    else:
        raise AssertionError("the deploy went on")
    assert line == (
        "mailguard: modelled-host: dkim_selectors: /etc/rspamd/local.d/dkim_signing.conf signs example.com with "
        "selector 'mail2024' with the key /var/lib/rspamd/dkim/example.com.mail2024.key; "
        'set dkim_selectors = { "example.com" = "mail2024" }; nothing was changed'
    )
    assert model.asked == ["facts.SystemProfile"]
    # The setting it names makes them agree: the key in use is adopted, nothing new is generated.
    model.files["/var/lib/rspamd/dkim/example.com.mail2024.key"] = {
        "text": WIZARD_KEY,
        "user": "_rspamd",
        "group": "_rspamd",
        "mode": 600,
    }
    agreed = {**SETTINGS, "dkim_selectors": {"example.com": "mail2024"}}
    converge(model, agreed, PASSWORDS)
    assert model.files["/var/lib/rspamd/dkim/example.com.mail2024.key"]["text"] == WIZARD_KEY
    signing = model.files[f"{CONF}/local.d/dkim_signing.conf"]["text"]
    assert 'selector = "mail2024";' in signing and "example.com.mail2024.key" in signing
    assert model.files[original(f"{CONF}/local.d/dkim_signing.conf")]["text"] == WIZARD_SIGNING


def test_a_key_at_the_wizards_default_place_is_simply_adopted():
    model = seed_host()
    default = WIZARD_SIGNING.replace("mail2024", "dkim")
    model.files[f"{CONF}/local.d/dkim_signing.conf"] = {"text": default, "user": "root", "group": "root", "mode": 644}
    plans = converge(model, SETTINGS, PASSWORDS)
    assert not any(op.changes for op in plans[-1])
    assert model.files[KEY]["text"] == WIZARD_KEY
