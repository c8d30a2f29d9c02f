"""Fixtures of the Apache-side tests; the site itself is tests/support/filtersite.py."""
import libtorrent as lt
import pytest


@pytest.fixture
def lt_torrent():
    """Parse .torrent bytes into (torrent_info, the raw decoded dict)."""
    def parse(data: bytes):
        return lt.torrent_info(data), lt.bdecode(data)
    return parse
