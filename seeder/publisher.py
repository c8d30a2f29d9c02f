"""Keeps the catalogue, the .torrent files and the libtorrent session in step with the docroot.

Order of writes, so that SIGKILL at any moment loses nothing: the .torrent file is
renamed into place, then the catalogue row commits, then the session seeds it. At start,
a row whose .torrent is missing is rebuilt and a .torrent with no row is deleted.

Nothing is published, or stays published, that Apache would not serve to an anonymous visitor
from the Internet (access.py): a file is asked about before it is hashed, and every catalogued
file again at each re-check. When Apache cannot be asked at all, published files keep their
last verdict and nothing new is published.
"""
from __future__ import annotations

import dataclasses

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from torrentweb.catalogue import Catalogue, FileRow, file_torrent_path
from torrentweb.config import Config
from torrentweb.errors import BuildError
from torrentweb.naming import web_seed_urls

from . import builder
from .access import PUBLIC, Verdict, access_check, name_verdict
from .rules import Candidate, Policy
from .session import SeedingSession

log = logging.getLogger("torrentweb.publisher")
REFUSED = "Apache refuses it to an anonymous visitor"     # why a refused file is withdrawn


@dataclass
class Progress:
    """Hashing progress, for the log and STATUS= during a long first scan."""
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    started: float = 0.0

    def line(self) -> str:
        mib = self.bytes_done / 2**20
        rate = mib / max(time.monotonic() - self.started, 1e-6)
        return (f"hashing: {self.files_done}/{self.files_total} files, "
                f"{mib:.1f}/{self.bytes_total / 2**20:.1f} MiB, {rate:.1f} MiB/s")


def store_file(config: Config, catalogue: Catalogue, cand: Candidate, built) -> FileRow:
    """A hashed file, published: its torrent renamed into place, then its row committed
    (the order that makes a SIGKILL at any moment lose nothing)."""
    torrent = file_torrent_path(cand.path)
    builder.write_atomically(config.state_dir / torrent, built.data)
    row = FileRow(cand.path, cand.size, cand.mtime_ns, built.info_hash, built.piece_size,
                  torrent, time.time(), cand.rule.swaps)
    catalogue.put_file(row)
    return row


def current(row: FileRow | None, cand: Candidate) -> bool:
    """The row still stands for the file: same size and mtime, and cut into the pieces this
    version cuts (a row from a version with another piece size is hashed again, once, so
    that every frontend builds the same info-hash)."""
    return (row is not None and (row.size, row.mtime_ns) == (cand.size, cand.mtime_ns)
            and row.piece_size == builder.piece_size_for(row.size))


class Publisher:
    def __init__(self, config: Config, catalogue: Catalogue, seeder: SeedingSession):
        self.catalogue = catalogue
        self.seeder = seeder
        self.progress = Progress()
        self.known: set[bytes] = set()       # v1 info-hashes we track (the tracker's whitelist)
        self.refused: dict[str, str] = {}    # path -> why it is not published (logged once)
        self._lock = threading.Lock()
        self.configure(config)

    def configure(self, config: Config):
        self.config = config
        self.policy = Policy(config)
        self.access = access_check(config)

    # start-up --------------------------------------------------------------------------------

    def restore(self, first: bool = False, refresh: bool = True, verify: bool = True,
                cancel=lambda: False) -> list[str]:
        """Seed every catalogued torrent whose file is unchanged and still public; withdraw the
        rest; return the paths needing work (new or changed files). Also the periodic re-check.

        `first` (at start only, before any hashing): delete .torrent files without a row.
        `refresh`: rewrite seeded torrents whose announce list or web seed changed (start, reload).
        `verify`: ask Apache about every unchanged file; without it (at start) they seed on their
        last verdict, and the daemon re-checks them all at once, in the background.
        Raises ApacheUnavailable when Apache cannot be asked, Cancelled when `cancel()` turned
        true while it asked (the daemon stops): nothing changes then."""
        rows = self.catalogue.files()
        on_disk = {c.path: c for c in self.policy.walk()}
        self.withdraw([p for p in rows if p not in on_disk],
                      "gone while the daemon was stopped" if first else "gone")
        if first:
            self._remove_orphans()
        unchanged = {p: rows[p] for p, c in on_disk.items() if current(rows.get(p), c)}
        verdicts = (self.access.check_all(((p, r.size) for p, r in unchanged.items()), cancel) if verify
                    else {p: PUBLIC for p in unchanged})
        denied = [p for p, v in verdicts.items() if not v.public]
        for p in denied:
            self._refuse(p, verdicts[p])
        self.withdraw(denied, REFUSED)
        work = []
        for path in on_disk:
            row = unchanged.get(path)
            if row is None:
                work.append(path)             # new or changed (or refused before): update() asks
            elif verdicts[path].public:
                if row.swap != on_disk[path].rule.swaps:     # rules[].swap changed: no re-hash
                    row = dataclasses.replace(row, swap=on_disk[path].rule.swaps)
                    self.catalogue.put_file(row)
                if self._seed(row, refresh=refresh):
                    self.refused.pop(path, None)
                else:
                    work.append(path)         # its .torrent is missing: rebuilt
        return work

    def _remove_orphans(self):
        """.torrent files without a catalogue row: left by a kill between rename and commit."""
        wanted = {r.torrent for r in self.catalogue.files().values()}
        root = self.config.state_dir
        for dirpath, _, names in os.walk(self.config.torrents_dir):
            for name in names:
                p = Path(dirpath) / name
                if p.relative_to(root).as_posix() not in wanted:
                    p.unlink(missing_ok=True)

    def _seed(self, row: FileRow, refresh: bool = True) -> bool:
        """Seed a catalogued torrent; `refresh` rewrites its outer keys if the config changed
        (at start and reload; a re-check leaves what is seeding alone)."""
        if not refresh and bytes.fromhex(row.info_hash) in self.known:
            return True
        path = self.config.state_dir / row.torrent
        data = builder.read_torrent(path, row.info_hash)
        if data is None:
            if path.exists():
                log.warning("damaged torrent %s for %s: it is built again", row.torrent, row.path)
            return False
        data = self._refresh(path, row, data)
        self.seeder.add(row.info_hash, data, (self.config.docroot / row.path).parent)
        self.known.add(bytes.fromhex(row.info_hash))
        return True

    def _refresh(self, path: Path, row: FileRow, data: bytes) -> bytes:
        """base_url, torrents.web_seeds or the announce list changed: rewrite the torrent around the same info dict.

        The info-hash covers only the info dict, so no re-hash and the swarm stays the same.
        """
        cfg = self.config
        want = builder.outer_keys(cfg.announce_urls(),
                                  web_seed_urls(cfg, row.path) if cfg.torrents.web_seed else [])
        new = builder.with_outer_keys(data, want)
        if new != data:
            builder.write_atomically(path, new)
            log.info("refreshed %s: announce list or web seed changed", row.path)
        return new

    # changes ---------------------------------------------------------------------------------

    def update(self, path: str, cancel=lambda: False) -> FileRow | None:
        """Bring one path up to date: publish, re-publish after a change, or withdraw."""
        bad = name_verdict(path)                       # before anything stores or shows the name
        if bad:
            self._refuse(path, bad)
            return None
        cand = self.policy.candidate(self.config.docroot / path)
        row = self.catalogue.file(path)
        if cand is None:
            if row:
                self.withdraw([path], "no longer published")
            return None
        verdict = self.access.check(cand.path, cand.size)     # before hashing: never hash what is refused
        if not verdict.public:
            self._refuse(path, verdict)
            if row:
                self.withdraw([path], REFUSED)
            return None
        self.refused.pop(path, None)
        if current(row, cand):
            if self._seed(row, refresh=False):
                return row
            # unchanged, but its torrent is missing or damaged: built again below
        return self._publish(cand, row, cancel)

    def _publish(self, cand: Candidate, old: FileRow | None, cancel) -> FileRow | None:
        cfg = self.config
        piece = builder.piece_size_for(cand.size)
        built = builder.build_file(
            cfg.docroot, cand.path, cand.size, base_url=cfg.web_seed_bases(),
            announce=cfg.announce_urls(), web_seed=cfg.torrents.web_seed,
            hybrid=cfg.torrents.hybrid, cancel=cancel,
            progress=lambda i: self._hashed(min(piece, cand.size - i * piece)))
        after = self.policy.candidate(cfg.docroot / cand.path)
        if after is None or (after.size, after.mtime_ns) != (cand.size, cand.mtime_ns):
            raise BuildError(cand.path, "changed while it was hashed; it will be hashed again")
        row = store_file(cfg, self.catalogue, cand, built)
        if old and old.info_hash != built.info_hash:
            self._stop_seeding(old)
        self._seed(row)
        with self._lock:
            self.progress.files_done += 1
        log.info("published %s %s", cand.path, built.info_hash)
        return row

    def _refuse(self, path: str, verdict: Verdict):
        """Say once why a file is not published (again only when the reason changes)."""
        with self._lock:
            if self.refused.get(path) == verdict.reason:
                return
            self.refused[path] = verdict.reason
        log.info("not published: %s: %s", path, verdict.reason)

    def _hashed(self, nbytes: int):
        with self._lock:
            self.progress.bytes_done += nbytes

    def withdraw(self, paths, reason: str):
        for row in self.catalogue.remove_files(paths):
            self._unpublish(row, reason)

    def withdraw_below(self, prefix: str, reason: str):
        """A directory vanished: withdraw every catalogued file under it."""
        prefix = prefix.rstrip("/") + "/"
        self.withdraw([p for p in self.catalogue.files() if p.startswith(prefix)], reason)

    def _stop_seeding(self, row: FileRow):
        """Stop seeding row's torrent; if another catalogued file has the same info-hash (the
        same bytes under the same name elsewhere), seed it on from that file's directory."""
        self.seeder.remove(row.info_hash)
        self.known.discard(bytes.fromhex(row.info_hash))
        for other in self.catalogue.files_with(row.info_hash):
            if other.path != row.path and self._seed(other):
                log.info("%s goes on seeding from %s", row.info_hash, other.path)
                return

    def _unpublish(self, row: FileRow, reason: str):
        self._stop_seeding(row)
        (self.config.state_dir / row.torrent).unlink(missing_ok=True)
        log.info("withdrawn %s %s (%s)", row.path, row.info_hash, reason)
