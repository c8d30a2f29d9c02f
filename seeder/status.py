"""What the daemon reports about itself, typed. Built every STATUS_EVERY seconds on the
`status` thread, handed to the metrics as is and written to status.json (which the CLI's
`torrentweb status` and the status page read) as plain data."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from .heat import EgressNow, HeatStatus, PageStatus
from .session import SeededTorrent
from .tracker.swarm import SwarmStats, TrackerStats
from .webrtc import WebrtcStats


@dataclass(frozen=True)
class Status:
    pid: int
    started: float                         # time.time() at start
    ready: bool                            # READY=1 sent: every listener bound
    config: str                            # the YAML's path
    addresses: typing.Dict[str, str]       # seeder, http, udp, websocket -> host:port bound
    hashing: typing.Tuple[str, ...]        # files being hashed now (the first 20)
    loop_lag_max: float                    # seconds the loop was late at worst, since start
    nofile: int                            # the descriptor limit the daemon raised itself to
    updated: float                         # when this was taken
    torrents: int
    peers: int
    uploaded: int                          # bytes the seeder sent, this session
    upload_rate: int                       # bytes/s
    per_torrent: typing.Tuple[SeededTorrent, ...]
    tracker: typing.Optional[TrackerStats] = None
    webrtc: typing.Optional[WebrtcStats] = None
    heat: typing.Optional[HeatStatus] = None     # pages.p2p: auto

    def as_json(self) -> dict:
        """status.json's content: field by field (dataclasses.asdict's deep copies of 10,000
        swarms took 54 ms, every status write)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

    @classmethod
    def from_json(cls, data: dict) -> "Status":
        """status.json back into a Status (`torrentweb status`): the daemon wrote it with
        as_json(); keys it does not know are left out."""
        tracker, heat, webrtc = data.get("tracker"), data.get("heat"), data.get("webrtc")
        return cls(**_known(cls, data, {
            "hashing": tuple(data.get("hashing", ())),
            "per_torrent": tuple(_make(SeededTorrent, t) for t in data.get("per_torrent", ())),
            "tracker": _tracker(tracker) if tracker else None,
            "webrtc": _make(WebrtcStats, webrtc) if webrtc else None,
            "heat": _heat(heat) if heat else None}))


def _known(cls, data: dict, overrides: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    return {**{k: v for k, v in data.items() if k in names}, **overrides}


def _make(cls, data: dict):
    return cls(**_known(cls, data, {}))


def _tracker(data: dict) -> TrackerStats:
    return TrackerStats(**_known(TrackerStats, data, {
        "torrents": tuple(_make(SwarmStats, t) for t in data.get("torrents", ()))}))


def _heat(data: dict) -> HeatStatus:
    return HeatStatus(tuple(_make(PageStatus, p) for p in data.get("pages", ())),
                      _make(EgressNow, data["egress"]),
                      tuple(tuple(row) for row in data.get("egress_history", ())))


def _plain(value):
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        if value and dataclasses.is_dataclass(value[0]):
            names = [f.name for f in dataclasses.fields(value[0])]
            return [{n: getattr(v, n) for n in names} for v in value]
        return [_plain(v) for v in value]
    return value
