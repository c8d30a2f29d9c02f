"""The filter's view of the daemon's SQLite catalogue: read assets and bundles, queue requests.

One connection per thread (opening one costs ~200 µs, a 20-path IN query ~14 µs), a short
busy timeout (a page is never held up by the daemon's writes) and every failure raised as
CatalogueUnavailable, which the filter answers by serving the page unchanged.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from torrentweb.errors import TorrentwebError

BUSY_TIMEOUT_MS = 50
VERSION_MAX_AGE = 1.0      # seconds a version read stays trusted while the files look unchanged


class CatalogueUnavailable(TorrentwebError):
    """The catalogue cannot be read now (not created yet, locked, unreadable)."""

    def __init__(self, path, reason):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Asset:
    """A published file, as the daemon catalogued it."""
    path: str           # relative to the document root
    size: int
    mtime_ns: int
    info_hash: str
    torrent: str        # relative to the state directory


@dataclass(frozen=True)
class Bundle:
    key: str
    info_hash: str
    torrent: str        # relative to the state directory
    built: float


class CatalogueReader:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._wal = Path(str(self.path) + "-wal")
        self._version = None                 # (stamp, when, version), shared by threads

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            if not self.path.exists():
                raise CatalogueUnavailable(self.path, "no catalogue yet (is the seeder daemon running?)")
            try:
                db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None,
                                     timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
                db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            except sqlite3.Error as e:
                raise CatalogueUnavailable(self.path, f"cannot open: {e}") from None
            self._local.db = db
        return db

    def _query(self, sql, args=()):
        try:
            return self._db().execute(sql, args).fetchall()
        except sqlite3.Error as e:
            self.close_thread()
            raise CatalogueUnavailable(self.path, f"{e} (in {sql.split()[0]})") from None

    def close_thread(self):
        db = getattr(self._local, "db", None)
        self._local.db = None
        if db is not None:
            db.close()

    def version(self) -> str:
        """The daemon's change counter. A query costs ~50 µs with a writer active; a stat of the
        database and its WAL ~2 µs, so the counter is read again only when one of them
        changed, or a second has passed (file times can be coarser than two commits)."""
        now = time.monotonic()
        stamp = self._stamp()
        cached = self._version
        if cached and cached[0] == stamp and now - cached[1] < VERSION_MAX_AGE:
            return cached[2]
        rows = self._query("SELECT value FROM meta WHERE name = 'version'")
        version = rows[0][0] if rows else "0"
        self._version = (stamp, now, version)
        return version

    def _stamp(self):
        out = []
        for path in (self.path, self._wal):
            try:
                st = os.stat(path)
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def assets(self, paths) -> dict[str, Asset]:
        paths = list(paths)
        out = {}
        for i in range(0, len(paths), 500):           # SQLite's bound-parameter limit
            chunk = paths[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._query("SELECT path, size, mtime_ns, info_hash, torrent FROM files "
                                   f"WHERE path IN ({marks})", chunk):
                out[row[0]] = Asset(*row)
        return out

    def bundle(self, key: str) -> Bundle | None:
        rows = self._query("SELECT key, info_hash, torrent, built FROM bundles WHERE key = ?", (key,))
        return Bundle(*rows[0]) if rows else None

    def request_bundle(self, key: str, paths):
        """Ask the daemon for a bundle (it builds and seeds it; the next request links it)."""
        self._query("INSERT OR IGNORE INTO bundle_requests VALUES (?,?,?)",
                    (key, json.dumps(sorted(paths)), time.time()))
