"""Errors of the tracker: a client's bad request apart from our own failures."""
from torrentweb.errors import TorrentwebError


class TrackerError(TorrentwebError):
    """Base of the tracker's own errors."""


class BindError(TrackerError):
    """A listener could not be bound; names the protocol and the address."""

    def __init__(self, protocol, address, reason):
        self.protocol, self.address, self.reason = protocol, address, reason
        super().__init__(f"tracker {protocol} listener: cannot bind {address}: {reason}")


class ClientError(TrackerError):
    """A request the client got wrong; the message is sent back as the `failure reason`."""


class Malformed(TrackerError):
    """A request so broken that it gets no reply at all (UDP garbage): it is dropped."""
