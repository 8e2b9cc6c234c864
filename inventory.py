"""pyinfra inventory: the target hosts, in groups, with their validated settings (see mailguard/targets.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings
from mailguard.targets import ALL_HOSTS, TargetError, select

try:
    _groups, _settings_file = select()
except settings.SettingsError as error:
    for line in error.lines:
        print(f"mailguard: setting {line}", file=sys.stderr)
    print("mailguard: nothing was changed: fix the settings above first", file=sys.stderr)
    sys.exit(2)
except TargetError as error:
    for line in error.lines:
        print(f"mailguard: {line}", file=sys.stderr)
    if os.environ.get("MAIL_INVENTORY"):
        print("mailguard: nothing was changed: fix the inventory above first", file=sys.stderr)
    sys.exit(2)

globals().update(_groups)  # each group a module-level list: pyinfra's groups, for --limit

for _name, _data in _groups[ALL_HOSTS]:
    _which = f"{_name}: " if len(_groups[ALL_HOSTS]) > 1 else ""
    for line in settings.warnings(_data[settings.SETTINGS_KEY]):
        print(f"mailguard: warning: {_which}setting {line}", file=sys.stderr)
