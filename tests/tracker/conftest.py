"""Fixtures of the tracker's tests; the helpers are tests/support/trackers.py."""
import pytest

from support.trackers import Seeder


@pytest.fixture
def seeder():
    s = Seeder()
    try:
        yield s
    finally:
        s.close()
