"""The SQLite catalogue: what was hashed, so a restart re-hashes nothing.

WAL mode, so the Apache side reads while the daemon writes. The daemon keeps its
connection open for its whole life (a reader that cannot create the -shm file would
otherwise fail: the "read-only WAL trap"); the state directory is group-writable for
the web server's group, which lets the filter queue bundle requests.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS files(
    path TEXT PRIMARY KEY,          -- relative to the docroot, '/'-separated
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    info_hash TEXT NOT NULL,        -- v1, 40 lowercase hex
    piece_size INTEGER NOT NULL,
    torrent TEXT NOT NULL,          -- relative to the state dir
    built REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_info_hash ON files(info_hash);
CREATE TABLE IF NOT EXISTS bundles(
    key TEXT PRIMARY KEY,           -- bundle_key() of its files
    info_hash TEXT NOT NULL,
    torrent TEXT NOT NULL,
    files TEXT NOT NULL,            -- JSON list of paths
    built REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS bundles_info_hash ON bundles(info_hash);
CREATE TABLE IF NOT EXISTS bundle_requests(
    key TEXT PRIMARY KEY,
    paths TEXT NOT NULL,            -- JSON list of paths
    requested REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('version', '0');
"""


@dataclass(frozen=True)
class FileRow:
    path: str
    size: int
    mtime_ns: int
    info_hash: str
    piece_size: int
    torrent: str
    built: float


@dataclass(frozen=True)
class BundleRow:
    key: str
    info_hash: str
    torrent: str
    files: tuple
    built: float


def bundle_key(entries) -> str:
    """Identity of a page bundle: the sorted (path, size, mtime_ns) of its files."""
    canon = sorted([e.path, e.size, e.mtime_ns] for e in entries)
    return hashlib.sha1(json.dumps(canon, separators=(",", ":")).encode()).hexdigest()


class Catalogue:
    """The daemon's writable view. One connection, used from one thread at a time."""

    def __init__(self, path: Path, group_writable: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.execute("PRAGMA journal_size_limit=4194304")
        self.db.executescript(SCHEMA)
        if group_writable:
            for suffix in ("", "-wal", "-shm"):
                p = Path(str(self.path) + suffix)
                if p.exists():      # the web server's group reads, and writes the -shm index
                    os.chmod(p, p.stat().st_mode & 0o777 | 0o660)

    def close(self):
        with self._lock:
            self.db.close()

    def _bump(self):
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'version'")

    # files ---------------------------------------------------------------------------------

    _FILE_COLUMNS = "path, size, mtime_ns, info_hash, piece_size, torrent, built"
    _BUNDLE_COLUMNS = "key, info_hash, torrent, files, built"

    @staticmethod
    def _bundle_row(r) -> BundleRow:
        return BundleRow(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4])

    def files(self) -> dict[str, FileRow]:
        with self._lock:
            return {r[0]: FileRow(*r) for r in self.db.execute(f"SELECT {self._FILE_COLUMNS} FROM files")}

    def file(self, path: str) -> FileRow | None:
        with self._lock:
            r = self.db.execute(f"SELECT {self._FILE_COLUMNS} FROM files WHERE path = ?", (path,)).fetchone()
        return FileRow(*r) if r else None

    def files_with(self, info_hash: str) -> list[FileRow]:
        """Rows sharing an info-hash: the same bytes under the same name in other directories."""
        with self._lock:
            rows = self.db.execute(f"SELECT {self._FILE_COLUMNS} FROM files WHERE info_hash = ?",
                                   (info_hash,)).fetchall()
        return [FileRow(*r) for r in rows]

    def put_file(self, row: FileRow):
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)",
                            (row.path, row.size, row.mtime_ns, row.info_hash, row.piece_size,
                             row.torrent, row.built))
            self._bump()

    def remove_files(self, paths) -> list[FileRow]:
        """Delete rows; return what they were (the caller drops torrents and files)."""
        return self._take("files", "path", self._FILE_COLUMNS, paths, lambda r: FileRow(*r))

    def _take(self, table, key_column, columns, keys, make) -> list:
        """Delete rows by key in one transaction and return them as they were."""
        keys = list(keys)
        if not keys:
            return []
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            gone = []
            for k in keys:
                r = self.db.execute(f"SELECT {columns} FROM {table} WHERE {key_column} = ?", (k,)).fetchone()
                if r:
                    gone.append(make(r))
                    self.db.execute(f"DELETE FROM {table} WHERE {key_column} = ?", (k,))
            if gone:
                self._bump()
            return gone

    # bundles -------------------------------------------------------------------------------

    def bundles(self) -> dict[str, BundleRow]:
        with self._lock:
            return {r[0]: self._bundle_row(r)
                    for r in self.db.execute(f"SELECT {self._BUNDLE_COLUMNS} FROM bundles")}

    def put_bundle(self, row: BundleRow):
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO bundles VALUES (?,?,?,?,?)",
                            (row.key, row.info_hash, row.torrent, json.dumps(list(row.files)), row.built))
            self.db.execute("DELETE FROM bundle_requests WHERE key = ?", (row.key,))
            self._bump()

    def remove_bundles(self, keys) -> list[BundleRow]:
        return self._take("bundles", "key", self._BUNDLE_COLUMNS, keys, self._bundle_row)

    def request_bundle(self, key: str, paths):
        with self._lock, self.db:
            self.db.execute("INSERT OR IGNORE INTO bundle_requests VALUES (?,?,?)",
                            (key, json.dumps(sorted(paths)), time.time()))

    def bundle_requests(self) -> list[tuple[str, list[str]]]:
        with self._lock:
            return [(k, json.loads(p)) for k, p in
                    self.db.execute("SELECT key, paths FROM bundle_requests ORDER BY requested")]

    def drop_bundle_request(self, key: str):
        with self._lock, self.db:
            self.db.execute("DELETE FROM bundle_requests WHERE key = ?", (key,))

    def version(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT value FROM meta WHERE name='version'").fetchone()[0])
