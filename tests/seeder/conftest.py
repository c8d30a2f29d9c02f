"""Fixtures of the daemon's tests: a site of free ports, daemons stopped by PID at the end."""
import pytest

from harness.daemon import make_site, start_daemon


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


@pytest.fixture
def daemons(tmp_path):
    started = []

    def start(site, ready=True, log="daemon.log"):
        d = start_daemon(site, tmp_path / log, ready=ready)
        started.append(d)
        return d
    yield start
    for d in started:
        d.stop()
