"""A backup of the deployed host, on this machine: `pyinfra -y inventory.py backup.py` (operations/backup.py)."""

from operations import entry

entry.backup()
