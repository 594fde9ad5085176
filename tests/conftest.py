"""Shared test set-up: the tests folder is importable (reference.py, strategies.py)."""

import sys
from pathlib import Path

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

import os
import tempfile

# The suite uses a cache folder of its own, so it neither reads nor fills the user's.
os.environ.setdefault("DPC_CACHE_DIR", tempfile.mkdtemp(prefix="dpc-test-cache-"))
# Every pass manager verifies the IR between passes, naming the pass that broke it.
os.environ.setdefault("DPC_DEBUG", "1")
