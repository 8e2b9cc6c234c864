"""A rotation switches signing only when every authoritative server serves the new key: two real
NSD servers for one zone, one of them not yet updated (a secondary that has not transferred)."""

from __future__ import annotations

import datetime

import nsd
import pytest
from support import public_key_b64

from mailguard import authoritative, dkim, dns_records, dnscheck

reason = nsd.available()
pytestmark = pytest.mark.skipif(bool(reason), reason=reason or "")

PRIMARY, SECONDARY = "127.0.53.21", "127.0.53.22"
NEW = "dkim-2026-11"


@pytest.fixture(scope="module")
def keys():
    keys = {name: public_key_b64(dkim.generate_private_key_pem(1024)) for name in ("new", "other")}
    return keys | {"ed25519": dkim.ed25519_public_b64(dkim.generate_ed25519_key())}


def _zones(records: dict[str, str]) -> dict[str, str]:
    """``test.`` (names the two servers) and ``rot.test`` with ``records`` (zone -> DKIM value lines)."""
    root = nsd.soa_header("test", ["ns-a.test"]) + f"ns-a IN A {PRIMARY}\nns-b IN A {SECONDARY}\n"
    zones = {"test": root}
    for zone, lines in records.items():
        zones[zone] = nsd.soa_header(zone, ["ns-a.test", "ns-b.test"]) + lines
    return zones


def _txt(key: str) -> str:
    return " ".join(f'"{part}"' for part in dkim.split_txt(dkim.txt_value(key)))


@pytest.fixture(scope="module")
def servers(tmp_path_factory, keys):
    """Zone by zone, what each server serves: the primary has the new key everywhere; the
    secondary lags in ``lag.test``, has another key in ``other.test``, and all of ``both.test``."""
    new, other = keys["new"], keys["other"]
    record = f"{NEW}._domainkey IN TXT {{}}\n"
    ed = f'ed._domainkey IN TXT "{dkim.txt_value(keys["ed25519"], "ed25519")}"\n'
    as_rsa = f'asrsa._domainkey IN TXT "{dkim.txt_value(keys["ed25519"])}"\n'  # the right p=, the wrong k=
    primary = _zones({z: record.format(_txt(new)) for z in ("both.test", "lag.test", "other.test")})
    secondary = _zones(
        {"both.test": record.format(_txt(new)), "lag.test": "", "other.test": record.format(_txt(other))}
    )
    primary["both.test"] += ed + as_rsa
    secondary["both.test"] += ed + as_rsa
    a, b = nsd.Nsd(tmp_path_factory.mktemp("ns-a"), PRIMARY), nsd.Nsd(tmp_path_factory.mktemp("ns-b"), SECONDARY)
    a.start(primary)
    b.start(secondary)
    yield
    a.stop()
    b.stop()


def _served(zone: str, key: str) -> tuple[bool, str]:
    resolver = authoritative.Authoritative(PRIMARY, nsd.PORT, 0.5)
    return dnscheck.dkim_served_everywhere(resolver, f"{NEW}._domainkey.{zone}", key)


def test_served_by_every_server_switches(servers, keys):
    ok, detail = _served("both.test", keys["new"])
    assert ok, detail
    assert detail.startswith("2 of 2 servers:")


@pytest.mark.parametrize(
    "zone, says", [("lag.test", "missing, no DKIM record"), ("other.test", "wrong, p= is another key")]
)
def test_one_server_behind_keeps_signing_with_the_old_key(servers, keys, zone, says):
    ok, detail = _served(zone, keys["new"])
    assert not ok
    assert detail.startswith("1 of 2 servers:") and f"ns-b.test ({SECONDARY}): {says}" in detail
    step = dkim.rotation_step(
        zone, dkim.KeyState("dkim", next=NEW), datetime.date.today(), 7, lambda s: _served(zone, keys["new"])
    )
    assert (step.stage, step.done, step.state.signing) == (2, False, "dkim")


def test_a_silent_server_is_not_taken_as_serving(servers, keys, tmp_path):
    resolver = authoritative.Authoritative(PRIMARY, nsd.PORT, 0.5)
    resolver._servers["both.test"] = [("ns-a.test", PRIMARY), ("ns-x.test", "127.0.53.29")]
    ok, detail = dnscheck.dkim_served_everywhere(resolver, f"{NEW}._domainkey.both.test", keys["new"])
    assert not ok and "ns-x.test (127.0.53.29) did not answer within 0.5 s" in detail


def test_an_ed25519_record_is_checked_by_its_key_and_its_algorithm(servers, keys):
    expected = dns_records.RecordInputs(
        domains=("both.test",),
        mail_hostname="mail.both.test",
        addresses=("192.0.2.25",),
        spf_all="-all",
        dkim_selector=NEW,
        dkim_keys={"both.test": keys["new"]},
        dkim_more={
            "ed._domainkey.both.test": (keys["ed25519"], "Ed25519", "ed25519"),
            "asrsa._domainkey.both.test": (keys["ed25519"], "Ed25519", "ed25519"),
        },
    )
    resolver = authoritative.Authoritative(PRIMARY, nsd.PORT, 0.5)
    found = {f.record.name: f for f in dnscheck.check(expected, resolver) if f.record.kind == "DKIM"}
    assert found[f"{NEW}._domainkey.both.test"].status == "ok"
    assert found["ed._domainkey.both.test"].status == "ok", found["ed._domainkey.both.test"].detail
    assert found["ed._domainkey.both.test"].record.value.startswith("v=DKIM1; k=ed25519; p=")
    assert (found["asrsa._domainkey.both.test"].status, found["asrsa._domainkey.both.test"].detail) == (
        "wrong",
        "k=rsa, the key on the host is ed25519",
    )


def test_an_ed25519_key_waits_for_its_own_algorithm_s_record(servers, keys):
    """dkim_rotate.py's check of an Ed25519 key: served with k=ed25519, not as an RSA record."""
    resolver = authoritative.Authoritative(PRIMARY, nsd.PORT, 0.5)
    ok, detail = dnscheck.dkim_served_everywhere(resolver, "ed._domainkey.both.test", keys["ed25519"], "ed25519")
    assert ok, detail
    wrong, detail = dnscheck.dkim_served_everywhere(resolver, "asrsa._domainkey.both.test", keys["ed25519"], "ed25519")
    assert not wrong and "k=rsa, the key on the host is ed25519" in detail
