"""DKIM key rotation, one stage per run: `pyinfra -y inventory.py dkim_rotate.py` (operations/dkim.py)."""

from operations import entry

entry.rotate()
