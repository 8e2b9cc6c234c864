"""The seed's anti-spam setup, step by step: run with `pyinfra inventory.py deploy.py`.

The steps are operations/mail_filter.py's; an admin's own deploy calls the same as
``from mailguard.deploy import mail_filter``.
"""

import gc
import os
import sys

from pyinfra import host

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings as settings_module
from operations.mail_filter import steps

steps(settings_module.from_host_data(host.data))

# The plan is whole, and it lives (with all that was imported) until pyinfra exits: frozen, it is
# no longer walked by the collections while the operations run nor by the several at Python's exit
# (about 0.1 s of a 1.1 s no-op rerun here). The price: garbage cycles made before this point stay
# until exit, and cycles among frozen objects are not finalized at exit; nothing of a run needs
# that (pyinfra closes its connections, files are closed where they are opened). Here, in the
# command's deploy file only: a library (mail_filter) leaves its importer's collector alone.
gc.freeze()
