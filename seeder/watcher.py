"""Watching the document root, and waiting until a file has settled before it is published.

watchdog reports changes; the Debouncer decides when a path is ready: quiet for
`settle` seconds, and (with inotify) not still open by a writer. A move is a delete
plus a create; a directory event asks for a rescan of that subtree.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Callable

from watchdog import events
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from torrentweb.config import WatchConfig

log = logging.getLogger("torrentweb.watcher")


class Change(enum.Enum):
    WRITTEN = "written"      # data written, writer may still have it open
    CLOSED = "closed"        # a writer closed it
    CHANGED = "changed"      # created, moved in, attributes changed
    GONE = "gone"            # deleted or moved away
    TREE = "tree"            # a directory appeared, moved, or vanished: rescan below it


@dataclass
class _Pending:
    first: float
    last: float
    open_write: bool = False


@dataclass
class Debouncer:
    """Pure timing logic, so it is tested without a file system or a clock."""
    settle: float
    open_write_timeout: float
    pending: dict = field(default_factory=dict)

    def touch(self, path: str, change: Change, now: float):
        p = self.pending.get(path)
        if p is None:
            p = self.pending[path] = _Pending(now, now)
        p.last = now
        if change is Change.WRITTEN:
            p.open_write = True
        elif change in (Change.CLOSED, Change.GONE):
            p.open_write = False

    def due(self, now: float) -> list[str]:
        """Paths quiet for `settle` whose writer has closed them (or gave up for too long)."""
        ready = []
        for path, p in list(self.pending.items()):
            if now - p.last < self.settle:
                continue
            if p.open_write and now - p.last < self.open_write_timeout:
                continue
            ready.append(path)
            del self.pending[path]
        return ready


class _Handler(events.FileSystemEventHandler):
    def __init__(self, report: Callable[[str, Change], None]):
        self.report = report

    def on_any_event(self, event):
        kind = event.event_type
        if event.is_directory:
            if kind in ("created", "deleted", "moved"):
                self.report(event.src_path, Change.TREE)
                if kind == "moved":
                    self.report(event.dest_path, Change.TREE)
            return
        if kind == "moved":
            self.report(event.src_path, Change.GONE)
            self.report(event.dest_path, Change.CHANGED)
        elif kind == "deleted":
            self.report(event.src_path, Change.GONE)
        elif kind == "modified":
            self.report(event.src_path, Change.WRITTEN)
        elif kind == "closed":
            self.report(event.src_path, Change.CLOSED)
        elif kind in ("created", "attrib"):
            self.report(event.src_path, Change.CHANGED)
        # opened / closed_no_write: reads (our own hashing among them) change nothing


class Watcher:
    """Runs a watchdog observer on the docroot; reports (path, Change) from its thread."""

    def __init__(self, docroot, config: WatchConfig, report: Callable[[str, Change], None]):
        self.docroot = str(docroot)
        self.config = config
        self.report = report
        self.observer = None

    def start(self):
        if self.config.method == "polling":
            self.observer = PollingObserver(timeout=self.config.poll_interval)
        else:
            self.observer = Observer()
        self.observer.schedule(_Handler(self.report), self.docroot, recursive=True)
        self.observer.start()
        log.info("watching %s (%s)", self.docroot, self.config.method)

    def stop(self):
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=10)
            self.observer = None
