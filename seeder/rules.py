"""What may be torrented: the YAML rules, and never what the origin would not serve publicly."""
from __future__ import annotations

import mimetypes
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from torrentweb.config import Config, Rule


@dataclass(frozen=True)
class Candidate:
    """A file in the document root that a rule matched."""
    path: str          # relative to the docroot, '/'-separated
    size: int
    mtime_ns: int
    mimetype: str
    rule: Rule


def glob_regex(pattern: str) -> re.Pattern:
    """`**` spans directories, `*` and `?` stay inside one path segment."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(r".*")
            i += 2
            continue
        out.append({"*": r"[^/]*", "?": r"[^/]"}.get(c, re.escape(c)))
        i += 1
    return re.compile("^" + "".join(out) + "$")


class Policy:
    """Decides, for one configuration, which files in the document root get a torrent."""

    def __init__(self, config: Config):
        self.config = config
        self.docroot = config.docroot
        self.real_root = os.path.realpath(config.docroot)
        self.excludes = [glob_regex(p) for p in config.exclude]
        self.types = mimetypes.MimeTypes()
        for ext, mt in config.mimetypes.items():
            self.types.add_type(mt, ext)

    def relpath(self, path) -> str | None:
        """The path relative to the docroot, or None when it lies outside it."""
        try:
            return Path(os.path.abspath(path)).relative_to(self.docroot).as_posix()
        except ValueError:
            return None

    def excluded(self, rel: str) -> bool:
        """Hidden (any segment starting with '.') or matched by an `exclude` glob."""
        if any(part.startswith(".") for part in rel.split("/")):
            return True
        return any(rx.match(rel) for rx in self.excludes)

    def mimetype(self, rel: str) -> str | None:
        return self.types.guess_type(rel, strict=False)[0]

    def candidate(self, path) -> Candidate | None:
        """The matching rule's verdict for a file, after every safety check."""
        rel = self.relpath(path)
        if rel is None or rel == "." or self.excluded(rel):
            return None
        mt = self.mimetype(rel)
        if mt is None:
            return None
        try:
            st = os.stat(path)               # follows a symlink: what Apache would serve
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & stat.S_IROTH:
            return None                       # not a file, or Apache (www-data) could not read it
        if os.path.islink(path) or self._through_link(rel):
            real = os.path.realpath(path)
            if os.path.commonpath([real, self.real_root]) != self.real_root:
                return None                   # a symlink out of the document root
        for rule in self.config.rules:
            if rule.matches(mt, st.st_size):
                return Candidate(rel, st.st_size, st.st_mtime_ns, mt, rule)
        return None

    def _through_link(self, rel: str) -> bool:
        parent = self.docroot
        for part in rel.split("/")[:-1]:
            parent = parent / part
            if parent.is_symlink():
                return True
        return False

    def walk(self, top=None):
        """Every candidate under `top` (the docroot); symlinked directories are not entered."""
        stack = [str(top or self.docroot)]
        while stack:
            top = stack.pop()
            try:
                entries = list(os.scandir(top))
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    c = self.candidate(entry.path)
                    if c:
                        yield c
