"""Learn from the mail users already have: `pyinfra -y inventory.py learn.py` (operations/learn.py)."""

from pyinfra import host

from mailguard.settings import from_host_data
from operations.learn import learn

learn(from_host_data(host.data))
