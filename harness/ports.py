"""Free loopback ports for servers whose port goes into a config file.

Not from the kernel's ephemeral range: a port there can be taken by any outgoing connection
on the machine (a client, a browser, Apache's proxy) between the moment a test writes it
into a config and the moment the server binds it, or again when a test restarts the server.
"""
import random
import socket

_AVOID = {6881, 6969, 6970, 8000, 8080, 8443, 9469, 51413}     # defaults others may hold


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
        if port not in _AVOID and port not in ephemeral and _bindable(port, host):
            return port
