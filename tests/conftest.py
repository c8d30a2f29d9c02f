"""Fixtures shared by every part's tests. Each part's own helpers live in tests/support/ (on the path
through pytest.ini's `pythonpath`); what starts a real origin is the harness package (harness/)."""
import shutil
import tempfile
import threading

import pytest


def pytest_configure(config):
    """Apache's www-data workers must reach tmp_path. pytest resets /tmp/pytest-of-root to 0700
    whenever any pytest session starts, which cut a running httpd off (403) when sessions
    overlap: give each session a base directory of its own (harness.apache grants o+x on it)."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = config._torrentweb_basetemp = tempfile.mkdtemp(prefix="torrentweb-tests-")


def pytest_sessionfinish(session, exitstatus):
    base = getattr(session.config, "_torrentweb_basetemp", None)
    if base and exitstatus == 0:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """A test that leaves a thread running has leaked a server or a session."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    assert not leaked, f"threads left running: {leaked}"
