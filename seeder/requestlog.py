"""The daemon's end of Apache's piped request log (torrentweb.apache.requestlog): a datagram
socket in the state directory, read on the loop. A line is parsed and counted, nothing more;
a malformed one is dropped."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import typing
from pathlib import Path

from .heat import Request, parse

log = logging.getLogger("torrentweb.requestlog")

SOCKET_NAME = "requests.sock"
RECEIVE_BUFFER = 4 * 1024 * 1024    # a burst of lines waits here, not in Apache


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, take: typing.Callable[[Request], None]):
        self.take = take

    def datagram_received(self, data, addr):
        req = parse(data)
        if req is not None:
            self.take(req)

    def error_received(self, exc):
        log.debug("request log: %s", exc)


class RequestLog:
    """start() binds <state_dir>/requests.sock (Apache's log pipe writes there); stop() closes it."""

    def __init__(self, state_dir: Path, take: typing.Callable[[Request], None]):
        self.path = Path(state_dir) / SOCKET_NAME
        self.take = take
        self.transport = None
        self.protocol: _Protocol | None = None

    async def start(self):
        self.path.unlink(missing_ok=True)          # a stale socket of a killed daemon
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.path))
        os.chmod(self.path, 0o660)                 # the web server's group (Apache's log pipe)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.transport, self.protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Protocol(self.take), sock=sock)

    def stop(self):
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self.path.unlink(missing_ok=True)
