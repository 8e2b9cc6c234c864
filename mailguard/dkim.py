"""DKIM keys (generated with cryptography) and the TXT record that publishes their public half."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


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


def txt_value(public_b64: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_b64}"


def split_txt(value: str, size: int = 255) -> list[str]:
    """A TXT value as character-strings of at most ``size`` bytes (RFC 1035 limit: 255)."""
    data = value.encode()
    return [data[i : i + size].decode() for i in range(0, len(data), size)] or [""]


def key_path(db_dir: str, domain: str, selector: str) -> str:
    return f"{db_dir}/dkim/{domain}.{selector}.key"
