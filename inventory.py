"""pyinfra inventory: the target hosts, in groups, with their validated settings (see mailguard/targets.py).

Every module-level list here is a pyinfra group: this file's own names all start with "_", and
no group name may (mailguard/targets.py), so a group can never replace one of them.
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))

# pyinfra's CLI turns bytecode writing off for the whole run (meant for the deploy files it execs,
# which never get any): the deploy's own modules were compiled anew on every run. Python's own
# setting again (-B or PYTHONDONTWRITEBYTECODE still turn it off), before they are imported.
_sys.dont_write_bytecode = bool(_sys.flags.dont_write_bytecode)
from mailguard import settings as _settings  # noqa: E402  (after the setting above)
from mailguard.targets import ALL_HOSTS as _ALL_HOSTS  # noqa: E402  (after the setting above)
from mailguard.targets import TargetError as _TargetError  # noqa: E402  (after the setting above)
from mailguard.targets import select as _select  # noqa: E402  (after the setting above)

try:
    _groups, _settings_file = _select()
except _settings.SettingsError as _error:
    for _line in _error.lines:
        print(f"mailguard: setting {_line}", file=_sys.stderr)
    print("mailguard: nothing was changed: fix the settings above first", file=_sys.stderr)
    _sys.exit(2)
except _TargetError as _error:
    for _line in _error.lines:
        print(f"mailguard: {_line}", file=_sys.stderr)
    if _os.environ.get("MAIL_INVENTORY"):
        print("mailguard: nothing was changed: fix the inventory above first", file=_sys.stderr)
    _sys.exit(2)

for _name, _data in _groups[_ALL_HOSTS]:
    _which = f"{_name}: " if len(_groups[_ALL_HOSTS]) > 1 else ""
    for _line in _settings.warnings(_data[_settings.SETTINGS_KEY]):
        print(f"mailguard: warning: {_which}setting {_line}", file=_sys.stderr)

globals().update(_groups)  # each group a module-level list: pyinfra's groups, for --limit
