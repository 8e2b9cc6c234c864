"""The group's TLS identity (issue #37): every Redis connection between the group's hosts goes
through a TLS tunnel (stunnel) that both ends authenticate with the group's certificate.

The key and its self-signed certificate are derived from the group's secret
(REDIS_REPLICATION_PASSWORD): an Ed25519 key from HMAC-SHA256 of the secret, and a certificate
whose every field follows from it (Ed25519 signatures are deterministic). So every host, and every
run, computes the same bytes without asking another host, and a new secret is a new key. Each end
accepts only a peer that presents this very certificate (stunnel's verifyPeer): whoever knows the
secret, that is, a host of the group.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

VALID_FROM = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
VALID_UNTIL = datetime.datetime(2099, 12, 31, tzinfo=datetime.UTC)  # replaced with the secret


def _key(secret: str) -> Ed25519PrivateKey:
    seed = hmac.new(secret.encode(), b"mailguard group tls key", hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def key_pem(secret: str) -> bytes:
    """The group's private key (PKCS#8 PEM)."""
    return _key(secret).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificate_pem(secret: str) -> bytes:
    """The group's self-signed certificate (PEM), the same bytes wherever it is made."""
    key = _key(secret)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"mailguard group {public.hex()[:16]}")])
    serial = int.from_bytes(hashlib.sha256(public).digest()[:16], "big") >> 1  # positive, under 20 bytes
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_UNTIL)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    )
    return builder.sign(key, None).public_bytes(serialization.Encoding.PEM)
