"""DKIM keys (generated with cryptography), the TXT record that publishes their public half, and
the stages of a key rotation (dkim_rotate.py), decided here from what the host and DNS say."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from . import names
from .layout import MANAGED_MARK
from .settings import Settings


def generate_private_key_pem(bits: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_key_b64(private_key_pem: bytes) -> str:
    """The p= value: base64 of the SubjectPublicKeyInfo DER of the key's public half."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def txt_value(public_b64: str, algorithm: str = "rsa") -> str:
    return f"v=DKIM1; k={algorithm}; p={public_b64}"


def generate_ed25519_key() -> bytes:
    """An Ed25519 signing key as every rspamd since 3.4 loads it: base64 of libsodium's 64-byte
    secret key (seed, then public key), no line end. (rspamd 3.4 reads only RSA keys from PEM.)"""
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(seed + public)


def ed25519_public_b64(key_file: bytes) -> str:
    """The p= value of an Ed25519 key (RFC 8463): the raw 32-byte public key, base64."""
    return base64.b64encode(base64.b64decode(key_file)[32:]).decode()


def ed25519_selector(selector: str) -> str:
    """The Ed25519 key's selector beside the RSA key's."""
    return f"{selector}-ed25519"


def split_txt(value: str, size: int = 255) -> list[str]:
    """A TXT value as character-strings of at most ``size`` bytes (RFC 1035 limit: 255)."""
    data = value.encode()
    return [data[i : i + size].decode() for i in range(0, len(data), size)] or [""]


# --- which key each domain signs with, and its rotation ---------------------------------------

STATE_HEADER = f"{MANAGED_MARK}: the DKIM key each domain signs with (dkim_rotate.py). Do not edit."


ED25519_STAGES = ("next", "signing")  # KeyState.ed25519: made and awaiting its record, or signing


@dataclass(frozen=True)
class KeyState:
    """One domain's keys on the host: the one it signs with, and a rotation under way.

    ``next``: a new key generated, its record to be published (stage 1 done);
    ``previous``: the key signing switched from, still published (stage 2 done);
    ``since``: the day that stage was reached (ISO);
    ``ed25519``: the Ed25519 key beside each RSA key (selector ``<RSA selector>-ed25519``): "next"
    (made beside the signing key, its record to be published) or "signing" (it signs, and a
    rotation makes, switches and retires it with its RSA key).
    """

    signing: str
    next: str | None = None
    previous: str | None = None
    since: str | None = None
    ed25519: str | None = None

    @property
    def selectors(self) -> tuple[str, ...]:
        """Every RSA selector whose record must stay published now."""
        return tuple(s for s in (self.signing, self.next, self.previous) if s)

    @property
    def ed25519_selectors(self) -> tuple[str, ...]:
        """Every Ed25519 selector whose record must stay published now."""
        if self.ed25519 == "next":
            return (ed25519_selector(self.signing),)
        return tuple(ed25519_selector(s) for s in self.selectors) if self.ed25519 == "signing" else ()

    @property
    def signs_ed25519(self) -> bool:
        return self.ed25519 == "signing"


class StateError(ValueError):
    """A DKIM state file (the host's, or a backup's) that names something no key can be: one line."""


def read_states(text: str | None) -> dict[str, KeyState]:
    """The host's state file: ``<domain> signing=<s> [next=<s>] [previous=<s>] [since=<date>]`` per line.

    Every domain, selector and date is checked against its grammar (the selectors become key
    paths): StateError names the first that fails.
    """
    states = {}
    known = {f.name for f in dataclasses.fields(KeyState)}
    for line in (text or "").splitlines():
        words = line.split()
        if not words or line.startswith("#"):
            continue
        fields = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        if "signing" not in fields:
            continue
        if not names.DOMAIN_RE.fullmatch(words[0]):
            raise StateError(f"DKIM state: {words[0]!r} is not a domain name")
        for key in ("signing", "next", "previous"):
            if key in fields and not names.SELECTOR_RE.fullmatch(fields[key]):
                raise StateError(f"DKIM state: {words[0]} {key}={fields[key]!r} is not a DKIM selector")
        if "since" in fields and not names.DATE_RE.fullmatch(fields["since"]):
            raise StateError(f"DKIM state: {words[0]} since={fields['since']!r} is not a date")
        if fields.get("ed25519", "next") not in ED25519_STAGES:
            raise StateError(f"DKIM state: {words[0]} ed25519={fields['ed25519']!r} is not one of {ED25519_STAGES}")
        states[words[0]] = KeyState(**{k: v for k, v in fields.items() if k in known})
    return states


def state_text(states: dict[str, KeyState]) -> str:
    lines = [STATE_HEADER]
    for domain, state in sorted(states.items()):
        values = dataclasses.asdict(state)
        lines.append(" ".join([domain, *(f"{k}={v}" for k, v in values.items() if v)]))
    return "\n".join(lines) + "\n"


def states_for(domains: Iterable[str], configured: Callable[[str], str], text: str | None) -> dict[str, KeyState]:
    """Each domain's state: as the host records it, else signing with the configured selector."""
    recorded = read_states(text)
    return {d: recorded.get(d) or KeyState(configured(d)) for d in domains}


def with_host_selectors(settings: Settings, states: Mapping[str, KeyState]) -> Settings:
    """The settings with each domain's signing selector as the host has it (after a rotation it is
    no longer the configured one: the ordinary deploy keeps signing with it, never undoes it)."""
    differ = {d: s.signing for d, s in states.items() if s.signing != settings.dkim_selector}
    return dataclasses.replace(settings, dkim_selectors=tuple(sorted(differ.items())))


def retire_on(state: KeyState, retire_days: int) -> datetime.date | None:
    """The first day the replaced key may be retired."""
    if not state.previous or not state.since:
        return None
    return datetime.date.fromisoformat(state.since) + datetime.timedelta(days=retire_days)


_DATED = re.compile(r"-\d{4}-\d{2}(?:-\d{2})?$")


def rotation_selector(current: str, today: datetime.date, taken: Collection[str] = ()) -> str | None:
    """A dated selector for the new key: ``<base>-YYYY-MM``, or ``-YYYY-MM-DD`` when that is taken."""
    base = _DATED.sub("", current)
    for candidate in (f"{base}-{today:%Y-%m}", f"{base}-{today:%Y-%m-%d}"):
        if candidate != current and candidate not in taken:
            return candidate
    return None


@dataclass(frozen=True)
class RotationStep:
    """What one run of dkim_rotate.py does for a domain, and what it says."""

    domain: str
    stage: int  # the stage this run is at (1 to 3; for an Ed25519 key made beside RSA: 1 or 2)
    state: KeyState  # the state after this run
    publish: tuple[tuple[str, str], ...] = ()  # (selector, algorithm) of each record to publish now
    retire: tuple[tuple[str, str], ...] = ()  # (selector, algorithm) of each key this run retires
    done: bool = False  # whether this run reached what the stage asks (else: it waits)
    says: str = ""


def _both(state: KeyState, selector: str) -> tuple[tuple[str, str], ...]:
    """``selector``'s RSA key, and its Ed25519 key where the domain signs with one."""
    return ((selector, "rsa"),) + (((ed25519_selector(selector), "ed25519"),) if state.signs_ed25519 else ())


def _ed25519_step(domain: str, state: KeyState, served: Callable[[str], tuple[bool, str]]) -> RotationStep:
    """An Ed25519 key beside the signing RSA key, staged as a rotation's next key is: made, then
    signing only once every authoritative server serves its record."""
    selector = ed25519_selector(state.signing)
    if state.ed25519 is None:
        says = (
            f"Ed25519, stage 1 of 2: new Ed25519 key {selector} generated; {state.signing} (RSA) signs alone until "
            "its record is served. Publish the record below, wait until every authoritative server serves it, "
            "then rerun dkim_rotate.py."
        )
        made = dataclasses.replace(state, ed25519="next")
        return RotationStep(domain, 1, made, publish=((selector, "ed25519"),), done=True, says=says)
    ok, detail = served(selector)
    if not ok:
        says = (
            f"Ed25519, stage 2 of 2: waiting for {selector}._domainkey.{domain} on every authoritative server "
            f"({detail}); {state.signing} (RSA) signs alone. Publish the record below, then rerun dkim_rotate.py."
        )
        return RotationStep(domain, 2, state, publish=((selector, "ed25519"),), says=says)
    says = (
        f"Ed25519, stage 2 of 2: every authoritative server serves {selector} ({detail}): it signs beside "
        f"{state.signing} from now on; a rotation rotates both."
    )
    return RotationStep(domain, 2, dataclasses.replace(state, ed25519="signing"), done=True, says=says)


def _served_both(state: KeyState, selector: str, served: Callable[[str], tuple[bool, str]]) -> tuple[bool, str]:
    answers = [(s, served(s)) for s, _ in _both(state, selector)]
    if len(answers) == 1:
        return answers[0][1]
    return all(ok for _, (ok, _) in answers), "; ".join(f"{s}: {detail}" for s, (_, detail) in answers)


def rotation_step(
    domain: str,
    state: KeyState,
    today: datetime.date,
    retire_days: int,
    served: Callable[[str], tuple[bool, str]],
    taken: Collection[str] = (),
    ed25519: bool = False,
) -> RotationStep:
    """The next stage of ``domain``'s rotation. ``served(selector)``: whether every authoritative
    server serves that selector's record with the key on the host, and what they said.
    ``ed25519``: the settings want an Ed25519 key beside RSA; one not yet signing is staged first,
    when no rotation is under way. A domain that signs with Ed25519 rotates both keys together."""
    if ed25519 and not state.signs_ed25519 and not state.next and not state.previous:
        return _ed25519_step(domain, state, served)
    if not ed25519 and state.ed25519:
        state = dataclasses.replace(state, ed25519=None)  # off in the settings: RSA rotates alone
    if state.next:
        ok, detail = _served_both(state, state.next, served)
        if not ok:
            says = (
                f"stage 2 of 3: waiting for {state.next}._domainkey.{domain} on every authoritative server "
                f"({detail}); signing stays with {state.signing}. Publish the record below, then rerun dkim_rotate.py."
            )
            return RotationStep(domain, 2, state, publish=_both(state, state.next), says=says)
        switched = KeyState(state.next, previous=state.signing, since=today.isoformat(), ed25519=state.ed25519)
        until = today + datetime.timedelta(days=retire_days)
        says = (
            f"stage 2 of 3: every authoritative server serves {state.next} ({detail}): signing switches from "
            f"{state.signing} to {state.next}. Keep {state.signing}._domainkey.{domain} published until {until}; "
            "then rerun dkim_rotate.py to retire it."
        )
        return RotationStep(domain, 2, switched, done=True, says=says)
    if state.previous:
        until = retire_on(state, retire_days) or today
        if today < until:
            says = (
                f"stage 3 of 3: signing with {state.signing}; {state.previous}._domainkey.{domain} stays published "
                f"until {until} (dkim_retire_days = {retire_days}), so that mail signed with it still verifies. "
                "Rerun dkim_rotate.py on or after that day."
            )
            return RotationStep(domain, 3, state, says=says)
        says = (
            f"stage 3 of 3: {state.previous} retired (its key is kept among the retired keys). Remove its record "
            f"from DNS, below. The rotation of {domain} is complete: signing with {state.signing}."
        )
        retired = KeyState(state.signing, ed25519=state.ed25519)
        return RotationStep(domain, 3, retired, retire=_both(state, state.previous), done=True, says=says)
    new = rotation_selector(state.signing, today, taken)
    if new is None:
        says = f"stage 1 of 3: {domain} already rotated to {state.signing} today; nothing to do until tomorrow."
        return RotationStep(domain, 1, state, says=says)
    says = (
        f"stage 1 of 3: new key {new} generated; signing stays with {state.signing}. Publish the record below, "
        "wait until every authoritative server serves it, then rerun dkim_rotate.py."
    )
    started = KeyState(state.signing, next=new, since=today.isoformat(), ed25519=state.ed25519)
    return RotationStep(domain, 1, started, publish=_both(state, new), done=True, says=says)
