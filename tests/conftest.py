"""Shared test set-up: the tests folder is importable (reference.py, strategies.py)."""

import sys
from pathlib import Path

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
