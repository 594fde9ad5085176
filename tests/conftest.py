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

from hypothesis import settings

# The property tests draw the same examples at every run, so that CI's verdict is the
# code's, not the draw's (a random draw found the nested-tape bug of test_ad.py's
# INACTIVE_INNER only on some runs). DPC_HYPOTHESIS=explore draws afresh each run: the way
# to search for new failures, each then kept as a test of its own.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("DPC_HYPOTHESIS", "repeatable"))
