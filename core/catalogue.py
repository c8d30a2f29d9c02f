"""The SQLite catalogue, shared by both sides: what was hashed, so a restart re-hashes nothing,
and what the filter links. One schema, one row type per table, the daemon's writer
(Catalogue) and the Apache side's reader (CatalogueReader), and where torrents live in the
state directory.

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

from .errors import CatalogueUnavailable

BUSY_TIMEOUT_MS = 50       # the reader: a page is never held up by the daemon's writes
VERSION_MAX_AGE = 1.0      # seconds a version read stays trusted while the files look unchanged

SCHEMA = """
CREATE TABLE IF NOT EXISTS files(
    path TEXT PRIMARY KEY,          -- relative to the docroot, '/'-separated
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    info_hash TEXT NOT NULL,        -- v1, 40 lowercase hex
    piece_size INTEGER NOT NULL,
    torrent TEXT NOT NULL,          -- relative to the state dir
    built REAL NOT NULL,
    swap INTEGER NOT NULL DEFAULT 1 -- its rule lets a hot page's loader take it from the swarm
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
CREATE TABLE IF NOT EXISTS hot_pages(
    path TEXT PRIMARY KEY,          -- URL path of the page, as the filter sees it
    since REAL NOT NULL             -- when it turned hot (pages.p2p: auto)
);
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('version', '0');
"""


@dataclass(frozen=True)
class FileRow:
    """A published file."""
    path: str           # relative to the document root, '/'-separated
    size: int
    mtime_ns: int
    info_hash: str      # v1, 40 lowercase hex
    piece_size: int
    torrent: str        # relative to the state directory (file_torrent_path)
    built: float
    swap: bool = True   # a hot page's loader may take it from the swarm (rules[].swap)


def _file_row(r) -> FileRow:
    return FileRow(*r[:7], bool(r[7]))


@dataclass(frozen=True)
class BundleRow:
    """A page bundle: one multi-file torrent of a page's assets."""
    key: str            # bundle_key() of its files
    info_hash: str
    torrent: str        # relative to the state directory (bundle_torrent_path)
    files: tuple        # paths relative to the document root
    built: float


FILE_COLUMNS = "path, size, mtime_ns, info_hash, piece_size, torrent, built, swap"
BUNDLE_COLUMNS = "key, info_hash, torrent, files, built"
REQUEST_BUNDLE = "INSERT OR IGNORE INTO bundle_requests VALUES (?,?,?)"


def file_torrent_path(rel: str) -> str:
    """Where a file's torrent lives (relative to the state directory): a mirror of the docroot."""
    return f"torrents/{rel}.torrent"


def bundle_torrent_path(info_hash: str) -> str:
    """Where a bundle's torrent lives: a directory per bundle, for the .htaccess that guards it."""
    return f"bundles/{info_hash}/{info_hash}.torrent"


def _bundle_row(r) -> BundleRow:
    return BundleRow(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4])


def _request_args(key: str, paths) -> tuple:
    return key, json.dumps(sorted(paths)), time.time()


def bundle_key(entries) -> str:
    """Identity of a page bundle: the sorted (path, size, mtime_ns) of its files."""
    canon = sorted([e.path, e.size, e.mtime_ns] for e in entries)
    return hashlib.sha1(json.dumps(canon, separators=(",", ":")).encode()).hexdigest()


class Catalogue:
    """The daemon's writable view. One connection, shared under a lock."""

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
        self._migrate()
        if group_writable:
            for suffix in ("", "-wal", "-shm"):
                p = Path(str(self.path) + suffix)
                if p.exists():      # the web server's group reads, and writes the -shm index
                    os.chmod(p, p.stat().st_mode & 0o777 | 0o660)

    def _migrate(self):
        """Catalogues of earlier versions: new columns get their defaults, nothing is re-hashed."""
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(files)")}
        if "swap" not in columns:
            self.db.execute("ALTER TABLE files ADD COLUMN swap INTEGER NOT NULL DEFAULT 1")

    def close(self):
        with self._lock:
            self.db.close()

    def _bump(self):
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'version'")

    # files ---------------------------------------------------------------------------------


    def files(self) -> dict[str, FileRow]:
        with self._lock:
            return {r[0]: _file_row(r) for r in self.db.execute(f"SELECT {FILE_COLUMNS} FROM files")}

    def file(self, path: str) -> FileRow | None:
        with self._lock:
            r = self.db.execute(f"SELECT {FILE_COLUMNS} FROM files WHERE path = ?", (path,)).fetchone()
        return _file_row(r) if r else None

    def files_with(self, info_hash: str) -> list[FileRow]:
        """Rows sharing an info-hash: the same bytes under the same name in other directories."""
        with self._lock:
            rows = self.db.execute(f"SELECT {FILE_COLUMNS} FROM files WHERE info_hash = ?",
                                   (info_hash,)).fetchall()
        return [_file_row(r) for r in rows]

    def put_file(self, row: FileRow):
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(f"INSERT OR REPLACE INTO files ({FILE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                            (row.path, row.size, row.mtime_ns, row.info_hash, row.piece_size,
                             row.torrent, row.built, int(row.swap)))
            self._bump()

    def remove_files(self, paths) -> list[FileRow]:
        """Delete rows; return what they were (the caller drops torrents and files)."""
        return self._take("files", "path", FILE_COLUMNS, paths, lambda r: _file_row(r))

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
            return {r[0]: _bundle_row(r)
                    for r in self.db.execute(f"SELECT {BUNDLE_COLUMNS} FROM bundles")}

    def put_bundle(self, row: BundleRow):
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO bundles VALUES (?,?,?,?,?)",
                            (row.key, row.info_hash, row.torrent, json.dumps(list(row.files)), row.built))
            self.db.execute("DELETE FROM bundle_requests WHERE key = ?", (row.key,))
            self._bump()

    def remove_bundles(self, keys) -> list[BundleRow]:
        return self._take("bundles", "key", BUNDLE_COLUMNS, keys, _bundle_row)

    def request_bundle(self, key: str, paths):
        with self._lock, self.db:
            self.db.execute(REQUEST_BUNDLE, _request_args(key, paths))

    def bundle_requests(self) -> list[tuple[str, list[str]]]:
        with self._lock:
            return [(k, json.loads(p)) for k, p in
                    self.db.execute("SELECT key, paths FROM bundle_requests ORDER BY requested")]

    def drop_bundle_request(self, key: str):
        with self._lock, self.db:
            self.db.execute("DELETE FROM bundle_requests WHERE key = ?", (key,))

    # hot pages -----------------------------------------------------------------------------

    def hot_pages(self) -> dict[str, float]:
        with self._lock:
            return dict(self.db.execute("SELECT path, since FROM hot_pages"))

    def set_hot(self, hot: dict[str, float], cold) -> None:
        """Pages turned hot (path -> since) and cold, in one commit: the filter and Apache's
        rewrite read them at the next request."""
        if not hot and not cold:
            return
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO hot_pages VALUES (?,?)", hot.items())
            self.db.executemany("DELETE FROM hot_pages WHERE path = ?", [(p,) for p in cold])
            self._bump()

    def version(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT value FROM meta WHERE name='version'").fetchone()[0])


class CatalogueReader:
    """The Apache side's view: read files and bundles, queue bundle requests. One connection
    per thread (opening one costs ~200 µs, a 20-path IN query ~14 µs), a short busy timeout,
    and every failure raised as CatalogueUnavailable (the filter then serves the page as is)."""

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

    def assets(self, paths) -> dict[str, FileRow]:
        paths = list(paths)
        out = {}
        for i in range(0, len(paths), 500):           # SQLite's bound-parameter limit
            chunk = paths[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._query(f"SELECT {FILE_COLUMNS} FROM files WHERE path IN ({marks})", chunk):
                out[row[0]] = _file_row(row)
        return out

    def info_hashes(self) -> list[str]:
        """Every published info-hash (files and page bundles), sorted: a tracker's whitelist."""
        return [r[0] for r in self._query("SELECT info_hash FROM files UNION "
                                          "SELECT info_hash FROM bundles ORDER BY 1")]

    def bundle(self, key: str) -> BundleRow | None:
        rows = self._query(f"SELECT {BUNDLE_COLUMNS} FROM bundles WHERE key = ?", (key,))
        return _bundle_row(rows[0]) if rows else None

    def is_hot(self, page_path: str) -> bool:
        return bool(self._query("SELECT 1 FROM hot_pages WHERE path = ?", (page_path,)))

    def request_bundle(self, key: str, paths):
        """Ask the daemon for a bundle (it builds and seeds it; the next request links it)."""
        self._query(REQUEST_BUNDLE, _request_args(key, paths))
