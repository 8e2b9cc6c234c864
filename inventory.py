"""pyinfra inventory: the target host and its validated settings (see mailguard/targets.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings
from mailguard.targets import TargetError, select

try:
    mail, _settings_file = select()
except settings.SettingsError as error:
    for line in error.lines:
        print(f"mailguard: setting {line}", file=sys.stderr)
    print("mailguard: nothing was changed: fix the settings above first", file=sys.stderr)
    sys.exit(2)
except TargetError as error:
    print(f"mailguard: {error}", file=sys.stderr)
    sys.exit(2)

for line in settings.warnings(mail[0][1][settings.SETTINGS_KEY]):
    print(f"mailguard: warning: setting {line}", file=sys.stderr)
