"""Apache's piped request log, handed to the daemon: the origin's load for the hot/cold decision.

httpd runs this as `CustomLog "||python -m torrentweb.apache.requestlog SOCKET" FORMAT` and
writes one line per response to its stdin. Each line goes on as one datagram to the daemon's
socket, without waiting: if the daemon is stopped, restarting or behind, the line is dropped,
so the log can never hold up a request (a pipe that is not read would stall httpd's workers).
Standard library only, like everything that runs in Apache.
"""
from __future__ import annotations

import socket
import sys

MAX_LINE = 2048      # longer lines (an absurd URL) are cut: the daemon parses the head only


def forward(lines, path: str, sock: socket.socket | None = None) -> int:
    """Send each line to `path`; returns how many were dropped."""
    sock = sock or socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dropped = 0
    for line in lines:
        try:
            sock.sendto(line[:MAX_LINE], socket.MSG_DONTWAIT, path)
        except OSError:          # no daemon, a full queue: the origin goes on regardless
            dropped += 1
    return dropped


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m torrentweb.apache.requestlog SOCKET", file=sys.stderr)
        return 2
    forward(sys.stdin.buffer, argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
