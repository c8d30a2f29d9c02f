"""The Apache-side tests' site (tests/apache): a docroot, a catalogue filled the daemon's way (the
daemon's own Policy, builder and Catalogue, in-process), and a real httpd in front of it."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


from harness.apache import ApacheServer
from harness.ports import free_port
from torrentweb.config import load
from torrentweb.seeder import builder
from torrentweb.catalogue import Catalogue
from torrentweb.seeder.bundles import build_bundle, store_bundle
from torrentweb.seeder.publisher import current, store_file
from torrentweb.seeder.rules import Policy

LINK_RE = re.compile(rb'<link type="application/x-bittorrent" rel="torrent" href="([^"]+)">')


def image(seed: int, size: int) -> bytes:
    """Deterministic bytes that differ per seed (the catalogue sees only size and hashes)."""
    block = bytes((seed * 31 + i * 7) % 251 for i in range(251))
    return (block * (size // 251 + 1))[:size]


@dataclass
class Site:
    root: Path
    config: object
    catalogue: Catalogue
    server: ApacheServer | None = None

    @property
    def docroot(self) -> Path:
        return self.config.docroot

    def add(self, rel: str, data: bytes) -> Path:
        p = self.docroot / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.chmod(p, 0o644)
        return p

    def catalogue_files(self):
        """What the daemon's publisher does for each settled file: hash and catalogue it."""
        for cand in Policy(self.config).walk():
            if current(self.catalogue.file(cand.path), cand):
                continue
            built = builder.build_file(self.docroot, cand.path, cand.size,
                                       base_url=self.config.base_url,
                                       announce=self.config.announce_urls())
            store_file(self.config, self.catalogue, cand, built)

    def build_requested(self) -> list[str]:
        """What the daemon's bundler does with the filter's requests: build, store, catalogue."""
        done = []
        for key, paths in self.catalogue.bundle_requests():
            rows = [self.catalogue.file(p) for p in paths]
            built = build_bundle(self.config, rows)
            store_bundle(self.config, self.catalogue, key, paths, built)
            done.append(built.info_hash)
        return done


def make_site(root: Path, yaml_extra: str = "", pages: str = "") -> Site:
    root.mkdir(parents=True, exist_ok=True)
    (root / "www").mkdir(exist_ok=True)
    port = free_port()
    (root / "torrentweb.yaml").write_text(
        f"docroot: www\nbase_url: http://127.0.0.1:{port}/\nstate_dir: state\n"
        "rules:\n  - mimetype: image/*\n    min_size: 1KiB\n  - mimetype: video/*\n"
        "pages:\n  large_file_size: 200KiB\n  rendered_copies: false\n" + pages + yaml_extra)
    config = load(root / "torrentweb.yaml")
    config.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(config.state_dir, 0o2775)
    return Site(root, config, Catalogue(config.catalogue_path))
