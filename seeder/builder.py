"""Building deterministic .torrent files with libtorrent, and writing them atomically.

Deterministic: no creation date, no creator, v1-only unless hybrid is asked for, piece
size a pure function of the file size; the same bytes give the same info-hash anywhere.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import libtorrent as lt

from torrentweb.errors import BuildError, Cancelled
from torrentweb.naming import web_seed_url

KIB = 1024
MIN_PIECE = 16 * KIB
DEFAULT_PIECE = 64 * KIB
MAX_PIECE = 16 * KIB * KIB
MAX_PIECES = 2048           # above this, pieces grow: .torrent size and per-piece overhead stay bounded


@dataclass(frozen=True)
class Built:
    info_hash: str          # v1, 40 lowercase hex (the v1 part of a hybrid's hashes)
    piece_size: int
    data: bytes             # the bencoded .torrent


def piece_size_for(total: int) -> int:
    """A small file is one piece; 64 KiB for most; larger for very large files.

    A visitor passes a piece on only once it holds all of it, so a crowd trades as fast as its
    pieces are small and many: 32 native visitors on home links took 4.0 seeder copies at p95
    22.9 s with 256 KiB pieces (33 for an 8 MiB page), 2.4 at 17.5 s with 64 KiB; Chromium tabs
    were as fast or faster (bench/RESULTS.md). Smaller bought little more (16 KiB: 2.1-2.2
    copies), and a browser makes one web-seed request per piece.
    """
    if total <= DEFAULT_PIECE:
        size = MIN_PIECE
        while size < total:
            size *= 2
        return size
    size = DEFAULT_PIECE
    while total > size * MAX_PIECES and size < MAX_PIECE:
        size *= 2
    return size


def build(parent: Path, entries: list[tuple[str, int]], *, piece_size: int, announce: Iterable[str],
          url_list: Iterable[str] = (), hybrid: bool = False, name: str | None = None,
          cancel: Callable[[], bool] = lambda: False,
          progress: Callable[[int], None] = lambda n: None) -> Built:
    """Hash files under `parent` (entries: (path relative to parent, size)) into a torrent.

    `name`: a multi-file torrent's name in place of the entries' top directory (v1-only): the
    pieces cover the files' bytes alone, so the torrent reads like one hashed from <name>/."""
    if name is not None and hybrid:
        raise ValueError("a renamed torrent is v1-only (v2 file trees name their root)")
    files = [lt.create_file_entry(name, size) for name, size in entries]
    flags = 0 if hybrid else lt.create_torrent.v1_only
    ct = lt.create_torrent(files, piece_size, flags)
    ct.set_creation_date(0)
    for tier, url in enumerate(announce):
        ct.add_tracker(url, tier)
    for url in url_list:
        ct.add_url_seed(url)

    def on_piece(index):
        if cancel():
            raise Cancelled("hashing stopped: the daemon is stopping")
        progress(index)

    try:
        lt.set_piece_hashes(ct, str(parent), on_piece)
    except Cancelled:
        raise
    except RuntimeError as e:   # libtorrent reports a missing or short file this way
        raise BuildError(parent / entries[0][0], f"cannot hash: {e}") from None
    meta = ct.generate()
    if name is not None:
        meta[b"info"][b"name"] = name.encode("utf-8")
    data = lt.bencode(meta)
    info = lt.torrent_info(data)
    return Built(str(info.info_hashes().v1), piece_size, data)


def build_file(docroot: Path, rel: str, size: int, *, base_url: str | Sequence[str], announce,
               web_seed=True, hybrid=False, cancel=lambda: False, progress=lambda n: None) -> Built:
    """One single-file torrent, named after the file, seeded from its directory; its url-list
    has the file's URL under base_url (the document root's URL), or under each of them."""
    path = docroot / rel
    bases = [base_url] if isinstance(base_url, str) else list(base_url)
    return build(path.parent, [(path.name, size)], piece_size=piece_size_for(size), announce=announce,
                 url_list=[web_seed_url(base, rel) for base in bases] if web_seed else [],
                 hybrid=hybrid, cancel=cancel, progress=progress)


def outer_keys(announce, url_list) -> dict:
    """The keys outside the info dict that torrentweb sets, as libtorrent writes them."""
    announce, url_list = list(announce), list(url_list)
    keys = {}
    if announce:
        keys[b"announce"] = announce[0].encode()
        if len(announce) > 1:
            keys[b"announce-list"] = [[u.encode()] for u in announce]
    if url_list:
        keys[b"url-list"] = url_list[0].encode() if len(url_list) == 1 else [u.encode() for u in url_list]
    return keys


def with_outer_keys(data: bytes, keys: dict) -> bytes:
    """The same torrent (same info dict, same info-hash) with other trackers and web seeds."""
    meta = lt.bdecode(data)
    current = {k: meta[k] for k in (b"announce", b"announce-list", b"url-list") if k in meta}
    if current == keys:
        return data
    for k in (b"announce", b"announce-list", b"url-list"):
        meta.pop(k, None)
    meta.update(keys)
    return lt.bencode(meta)


def read_torrent(path: Path, info_hash: str) -> bytes | None:
    """The catalogued torrent's bytes, or None when missing or damaged (truncated, empty,
    garbage, another torrent): the caller rebuilds it rather than trusting the disk."""
    try:
        data = path.read_bytes()
        ti = lt.torrent_info(data)
    except (OSError, RuntimeError, ValueError):
        return None
    return data if str(ti.info_hashes().v1) == info_hash else None


def write_atomically(path: Path, data: bytes, mode=0o644):
    """Write a temp file in the same directory, fsync, rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
