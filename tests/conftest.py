"""The project root and tests/ on sys.path: tests import mailguard, operations and the helpers here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
