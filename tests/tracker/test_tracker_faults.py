"""Regression tests for issue 12: faults a client could cause that crashed, froze or filled the log.

Real trackers on loopback ports; raw sockets where a well-behaved client library would hide the fault.
"""
import json
import socket
import struct

import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.uri import parse_uri

from conftest import RunningTracker, announce_path, bodies, get, http_exchange, loopback_config
from torrentweb.seeder.tracker.udp import PROTOCOL_ID

IH = b"\x55" * 20
IH_TEXT = IH.decode("latin-1")
GAVE_UP = 30          # seconds: only a limit after which the test gives up, never a measured duration


def ws_announce(peer: str, **extra) -> str:
    return json.dumps({"action": "announce", "info_hash": IH_TEXT, "peer_id": peer, "left": 9, **extra})


def test_one_address_flooding_announces_is_rate_limited_by_default():
    with RunningTracker(loopback_config(udp=None, websocket=None), known={IH}) as t:
        requests = b"".join(get(announce_path(b"-RL0001-%012d" % n, 7000, 5, ih=IH)) for n in range(2000))
        replies = bodies(http_exchange(t, requests + get(b"/x").replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")))
    limited = [r for r in replies if r == {b"failure reason": b"rate limited: too many requests from your address, retry later"}]
    assert len(replies) == 2001 and len(limited) > 1000
