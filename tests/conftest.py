"""Fixtures shared by every part's tests. Each part's own helpers live in tests/support/."""
import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(__file__))   # `from support import ...`


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """A test that leaves a thread running has leaked a server or a session."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    assert not leaked, f"threads left running: {leaked}"
