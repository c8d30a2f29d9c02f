"""Free loopback ports for servers whose port goes into a config file."""
import socket


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1") -> int:
    """A port free for both TCP and UDP right now (the tracker uses one number for both)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        try:
            with socket.socket(socket.AF_INET, other) as s:
                s.bind((host, port))
            return port
        except OSError:
            continue
