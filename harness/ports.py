"""Free loopback ports for servers whose port goes into a config file.

Not from the kernel's ephemeral range: a port there can be taken by any outgoing connection
on the machine (a client, a browser, Apache's proxy) between the moment a test writes it
into a config and the moment the server binds it, or again when a test restarts the server.
Nor twice: a port handed out is claimed for this process (never given again here) and against
every other test process on the machine, which is shared by several suites at once.
"""
import atexit
import os
import random
import socket
import tempfile
from pathlib import Path

from .processes import pid_alive

_AVOID = {6881, 6969, 6970, 8000, 8080, 8443, 9469, 51413}     # defaults others may hold


_CLAIMS = Path(tempfile.gettempdir()) / "torrentweb-test-ports"
_mine: set[int] = set()


def _claim(port: int) -> bool:
    """Hold `port` for this process against every other test process on the machine (several
    sessions run suites at once: a port free now may be handed to another one before the server
    it is for binds it). A claim is a file named after the port holding the owner's pid; a dead
    owner's claim is taken over; ours go at exit."""
    if port in _mine:
        return False                       # handed out already: a second server would collide
    _CLAIMS.mkdir(mode=0o1777, exist_ok=True)
    path = _CLAIMS / str(port)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = int(path.read_text() or "0")
            except (OSError, ValueError):
                return False
            if owner and pid_alive(owner):
                return False
            path.unlink(missing_ok=True)   # its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        _mine.add(port)
        return True
    return False


@atexit.register
def _release():
    for port in _mine:
        (_CLAIMS / str(port)).unlink(missing_ok=True)
    try:
        _CLAIMS.rmdir()                    # only when no other process holds one
    except OSError:
        pass


def _ephemeral() -> range:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = map(int, f.read().split())
        return range(low, high + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def _bindable(port: int, host: str) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1") -> int:
    """A port free for both TCP and UDP right now (the tracker uses one number for both),
    below the ephemeral range."""
    ephemeral = _ephemeral()
    low, high = 10000, min(ephemeral.start, 65536) - 1
    if high - low < 1000:                      # an unusual range: above it, then
        low, high = ephemeral.stop, 65535
    while True:
        port = random.randint(low, high)
        if port not in _AVOID and port not in ephemeral and _bindable(port, host) and _claim(port):
            return port
