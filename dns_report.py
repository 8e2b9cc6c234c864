"""The DNS records for the deployed host, without changing it: `pyinfra -y inventory.py dns_report.py`."""

from operations import entry

entry.dns_report()
