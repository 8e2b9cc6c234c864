"""A backup of the deployed host, on this machine: `pyinfra -y inventory.py backup.py`.

The DKIM keys (and a rotation's state and retired keys), the maps, the web UI's password hashes
and a Redis dump, checked against their checksums, in MAIL_BACKUP_DIR (default backups/)
/<host>/<UTC time>/, a directory only its owner can open. Nothing of it is printed.
"""

import os
import sys

from pyinfra import host

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings as settings_module
from operations import backup

backup.backup(settings_module.from_host_data(host.data))
