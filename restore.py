"""A backup put onto a host, then the deploy:
`MAIL_RESTORE_FROM=backups/<host>/<time> pyinfra -y inventory.py restore.py`.

Refuses, before anything changes, a host whose DKIM key differs from the backup's, or whose
Redis already holds data. Rerun it as often as needed: what is in place is left as it is.
"""

import os
import sys

from pyinfra import host

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings as settings_module
from operations import backup
from operations.mail_filter import steps

backup.restore(settings_module.from_host_data(host.data), steps)
