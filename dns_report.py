"""The DNS records for the deployed host, without changing it: `pyinfra -y inventory.py dns_report.py`.

Reads the DKIM public keys off the host, prints the records, writes the zone snippets and
records.json (MAIL_DNS_DIR, default dns-records/<host>/) and, with dns_check, asks the live DNS.
"""

import os
import sys

from pyinfra import host

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings as settings_module
from operations import dkim, dns, preflight
from operations.hoststate import current_host

settings = settings_module.from_host_data(host.data)
key_states = dkim.key_states(settings)
settings = dkim.with_host_selectors(settings, key_states)
dns.report(settings, preflight.detect_platform(settings), current_host(), key_states)
