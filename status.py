"""Is it still working? `pyinfra -y inventory.py status.py`, or `python status.py [--json]` (operations/status.py)."""

from operations import entry

entry.status(__name__)
