"""The built-in tracker: HTTP, UDP and WebSocket front ends over one swarm."""

from .errors import BindError, ClientError, TrackerError
from .server import Tracker
from .swarm import TorrentStats, TrackerStats

__all__ = ["Tracker", "TrackerStats", "TorrentStats", "TrackerError", "BindError", "ClientError"]
