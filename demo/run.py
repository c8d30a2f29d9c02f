#!/usr/bin/env python3
"""`make demo`: the real Apache (mod_wsgi + the torrentweb snippet), the seeder and its tracker on
the sample site in demo/site/, on loopback. Prints the URL to open and stays in the foreground;
Ctrl-C (or SIGTERM) stops everything it started, by PID.

    .venv/bin/python demo/run.py [--port 8088] [--site demo/site] [--state demo/.run]

State (catalogue, torrents, status.json) and logs go to --state (git-ignored demo/.run/ by default;
it is emptied at start). Exit codes: 0 stopped by a signal, 1 something failed to start, 2 usage.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from origin import Origin, OriginError  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="Apache's loopback port (default: a free one)")
    p.add_argument("--site", type=Path, default=HERE / "site", help="document root (demo/site)")
    p.add_argument("--state", type=Path, default=HERE / ".run", help="state and logs (demo/.run)")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port {args.port}: expected 1 to 65535 (or 0 for a free one)")
    if not (args.site / "index.html").is_file():
        p.error(f"--site {args.site}: no index.html there")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    shutil.rmtree(args.state, ignore_errors=True)
    print("starting the seeder daemon and Apache ...", flush=True)
    try:
        # swap: the loader takes the images and the video from the swarm (HTTP as backstop)
        origin = Origin.start(args.site, args.state, port=args.port or None,
                              settings={"pages": {"loader": True, "swap": True}})
    except (OriginError, AssertionError, OSError) as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    try:
        if not origin.wait_published():
            print(f"demo: the page has no torrent link yet; see {args.state}/seeder.log", file=sys.stderr)
        print(f"torrentweb demo: open {origin.url}", flush=True)
        print(f"status page:     {origin.url}.torrentweb/status", flush=True)
        print(f"logs and state:  {args.state}  (Ctrl-C stops everything)", flush=True)
        while not stop.wait(1.0):
            for name, proc in (("Apache", origin.apache.process), ("the seeder", origin.daemon.proc)):
                if not proc.alive():
                    print(f"demo: {name} exited; see {args.state}", file=sys.stderr)
                    return 1
    finally:
        origin.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
