"""rspamd controller password hashes, compatible with ``rspamadm pw`` (the ``$1$`` scheme).

``$1$<salt>$<key>``: PBKDF2 whose PRF is BLAKE2b-512 keyed with the password, 16000 rounds,
32-byte key, 20-byte salt, both in rspamd's base32.  ``$2$`` (Catena) hashes made by
rspamadm are recognised but cannot be verified here: they are replaced by a ``$1$`` hash.
"""

from __future__ import annotations

import hashlib
import os

ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"
ROUNDS = 16000
SALT_BYTES = 20
KEY_BYTES = 32


def base32_encode(data: bytes) -> str:
    """rspamd's base32: bits taken least significant first, 5 per character."""
    out, acc, bits = [], 0, 0
    for byte in data:
        acc |= byte << bits
        bits += 8
        while bits >= 5:
            out.append(ALPHABET[acc & 31])
            acc >>= 5
            bits -= 5
    if bits:
        out.append(ALPHABET[acc & 31])
    return "".join(out)


def base32_decode(text: str) -> bytes:
    out, acc, bits = bytearray(), 0, 0
    for char in text:
        index = ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"not rspamd base32: {char!r}")
        acc |= index << bits
        bits += 5
        if bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    return bytes(out)


def _pbkdf2_blake2b(password: bytes, salt: bytes) -> bytes:
    if len(password) > 64:
        password = hashlib.blake2b(password).digest()
    # The PRF is BLAKE2b keyed with the password: the key is set up once and its state copied per
    # round, with the loop's names local: each saves a share of the thousands of rounds a check runs.
    copy = hashlib.blake2b(key=password).copy
    from_bytes = int.from_bytes
    state = copy()
    state.update(salt + (1).to_bytes(4, "big"))
    block = state.digest()
    result = from_bytes(block, "big")
    for _ in range(ROUNDS - 1):
        state = copy()
        state.update(block)
        block = state.digest()
        result ^= from_bytes(block, "big")
    return result.to_bytes(64, "big")[:KEY_BYTES]


def make_hash(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = _pbkdf2_blake2b(password.encode(), salt)
    return f"$1${base32_encode(salt)}${base32_encode(key)}"
