"""A host where OpenDKIM already signs: its KeyTable and SigningTable are read, rspamd signs with
the same keys and selectors (copied, never through a link), and nothing new is generated."""

from __future__ import annotations

import pytest
from hostmodel import HostModel, by_name, plan
from pyinfra.api.exceptions import PyinfraError
from support import PASSWORDS, SETTINGS

from mailguard import dkim, opendkim

SOURCE = "/etc/opendkim/keys/example.com/mail.private"
HERE = "/var/lib/rspamd/dkim/example.com.mail.key"
CONF = "Syslog yes\nKeyTable file:/etc/opendkim/key.table\nSigningTable refile:/etc/opendkim/signing.table\n"
KEYTABLE = "# name domain:selector:key\nmailkey example.com:mail:/etc/opendkim/keys/example.com/mail.private\n"
SIGNINGTABLE = "*@example.com mailkey\n"


def test_the_tables_say_which_key_signs_which_domain():
    texts = {"/etc/opendkim/key.table": KEYTABLE, "/etc/opendkim/signing.table": SIGNINGTABLE}
    assert opendkim.signing_keys(CONF, texts, ["example.com", "example.org"]) == {
        "example.com": opendkim.OpenDkimKey("mail", SOURCE)
    }
    plain = "KeyTable /t/keys\nSigningTable /t/signing\n"
    texts = {
        "/t/keys": "k1 %:s1:/k/one\nk2 other.example:s2:/k/two\n",
        "/t/signing": "example.org k1\nexample.net k2\n",
    }
    # "%" is the signing domain; a key for another domain (d= would differ) is not taken
    assert opendkim.signing_keys(plain, texts, ["example.org", "example.net"]) == {
        "example.org": opendkim.OpenDkimKey("s1", "/k/one")
    }
    single = "Domain example.com, example.org\nSelector default\nKeyFile /etc/opendkim/default.private\n"
    assert opendkim.signing_keys(single, {}, ["example.org"]) == {
        "example.org": opendkim.OpenDkimKey("default", "/etc/opendkim/default.private")
    }
    assert opendkim.signing_keys("KeyTable db:/x.db\nSigningTable db:/y.db\n", {}, ["example.com"]) == {}


def _model(**extra_files) -> HostModel:
    model = HostModel.load("debian13", "fresh")
    key = dkim.generate_private_key_pem(1024).decode()
    files = {
        opendkim.CONF: (CONF, "root", 644),
        "/etc/opendkim/key.table": (KEYTABLE, "root", 644),
        "/etc/opendkim/signing.table": (SIGNINGTABLE, "root", 644),
        SOURCE: (key, "opendkim", 600),
        **extra_files,
    }
    for path, (text, user, mode) in files.items():
        model.files[path] = {"text": text, "user": user, "group": user, "mode": mode}
    return model


def test_rspamd_signs_with_opendkims_key_copied_as_it_is():
    ops = plan(_model(), SETTINGS, PASSWORDS)
    names = by_name(ops)
    copy = names["DKIM keys | DKIM: OpenDKIM's key for example.com (selector mail)"].commands
    assert copy[1].args[:2] == ("copy", "/etc/opendkim/keys/example.com/mail.private")  # never through a link
    assert copy[-1].args[0] == "place" and copy[-1].args[2] == HERE and copy[-1].args[-1] == "link"
    files = {path: data.decode() for op in ops for path, data in op.uploads().items()}
    signing = files["/etc/rspamd/local.d/dkim_signing.conf"]
    assert 'selector = "mail";' in signing and HERE in signing
    assert not any(path.startswith("/var/lib/rspamd/dkim/example.com.dkim") for path in files)
    assert not any(SOURCE in str(c) and "rm" in str(c).split() for op in ops for c in op.commands)


def test_another_key_already_at_rspamds_path_or_a_link_is_refused_before_any_change():
    other = dkim.generate_private_key_pem(1024).decode()
    with pytest.raises(PyinfraError, match=f"{HERE} is another key than OpenDKIM's {SOURCE}.*nothing was changed"):
        plan(_model(**{HERE: (other, "_rspamd", 600)}), SETTINGS, PASSWORDS)
    model = _model()
    model.files[SOURCE] = {"link": "/etc/shadow", "user": "opendkim", "group": "opendkim", "mode": 777}
    with pytest.raises(PyinfraError, match=f"names {SOURCE} for example.com, which is a symbolic link"):
        plan(model, SETTINGS, PASSWORDS)
