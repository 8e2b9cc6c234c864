"""The seed's anti-spam setup, step by step: run with `pyinfra inventory.py deploy.py`.

The steps are operations/mail_filter.py's; an admin's own deploy calls the same as
``from mailguard.deploy import mail_filter``.
"""

import os
import sys

from pyinfra import host

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings as settings_module
from operations.mail_filter import steps

steps(settings_module.from_host_data(host.data))
