"""A backup put onto a host, then the deploy:
`MAIL_RESTORE_FROM=backups/<host>/<time> pyinfra -y inventory.py restore.py` (operations/backup.py)."""

from operations import entry

entry.restore()
