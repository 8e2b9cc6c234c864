"""The server given back as it was before the deploy: `pyinfra -y inventory.py remove.py`
(operations/remove.py, docs/remove.md)."""

from operations import entry

entry.remove()
