"""Learn from the mail users already have: `pyinfra -y inventory.py learn.py` (operations/learn.py)."""

from operations import entry

entry.learn()
