"""The seed's anti-spam setup, step by step: `pyinfra inventory.py deploy.py` (operations/mail_filter.py)."""

from operations import entry

entry.deploy()
