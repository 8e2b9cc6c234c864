"""DKIM key rotation, one stage per run: `pyinfra -y inventory.py dkim_rotate.py`.

Stage 1 generates a key under a dated selector and prints its record (signing stays with the old
key); stage 2 switches signing once every authoritative server serves the new record; stage 3,
dkim_retire_days later, retires the old key and prints the record to remove. Each run says where
the rotation stands. The ordinary deploy never rotates, and never undoes a rotation.
"""

import os
import sys

from pyinfra import host

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings as settings_module
from operations import dkim
from operations.mail_filter import steps

dkim.rotate(settings_module.from_host_data(host.data), steps)
