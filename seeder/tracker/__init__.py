"""The built-in tracker: HTTP, UDP and WebSocket front ends over one swarm."""

from .errors import BindError, ClientError, TrackerError
from .server import Tracker
from .swarm import SwarmStats, TrackerStats

__all__ = ["Tracker", "TrackerStats", "SwarmStats", "TrackerError", "BindError", "ClientError"]
