"""pyinfra inventory: the target host and its settings (see mailguard/targets.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard.settings import SettingsError  # noqa: E402
from mailguard.targets import TargetError, select  # noqa: E402

try:
    mail, _settings_file = select()
except SettingsError as error:
    for line in error.lines:
        print(f"mailguard: setting {line}", file=sys.stderr)
    print("mailguard: nothing was changed: fix the settings above first", file=sys.stderr)
    sys.exit(2)
except TargetError as error:
    print(f"mailguard: {error}", file=sys.stderr)
    sys.exit(2)
