"""`python -m torrentweb.seeder.tracker -c CONFIG [--whitelist FILE]`: the tracker alone.

For tests and benchmarks only; the daemon composes `server.Tracker` itself. Prints one
`listening PROTOCOL HOST:PORT` line per listener once all are bound; SIGTERM/SIGINT stop it;
SIGHUP re-reads the whitelist. Exit codes: 0 stopped, 2 bad configuration or whitelist, 3 a
listener could not be bound.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from torrentweb import config as configuration
from torrentweb.errors import TorrentwebError

from .errors import BindError
from .server import Tracker


class WhitelistError(TorrentwebError):
    pass


def read_whitelist(path: Path) -> frozenset:
    """One 40-hex info-hash per line; blank lines and # comments are skipped."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise WhitelistError(f"{path}: cannot read the whitelist: {getattr(e, 'strerror', None) or e}") from None
    hashes = set()
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            raw = bytes.fromhex(line)
        except ValueError:
            raw = b""
        if len(raw) != 20:
            raise WhitelistError(f"{path}:{number}: expected an info-hash of 40 hex digits, got {line!r}")
        hashes.add(raw)
    return frozenset(hashes)


async def serve(tracker: Tracker, reload=None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if reload is not None:
        loop.add_signal_handler(signal.SIGHUP, reload)
    await tracker.start()
    try:
        for name, address in tracker.addresses.items():
            print(f"listening {name} {address}", flush=True)
        await stop.wait()
    finally:
        await tracker.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torrentweb.seeder.tracker",
                                     description="Run torrentweb's tracker alone (tests, benchmarks).")
    parser.add_argument("-c", "--config", required=True, help="torrentweb YAML file (its tracker: section)")
    parser.add_argument("--whitelist", type=Path, help="info-hashes to track, one 40-hex per line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = configuration.load(args.config)
        if not cfg.tracker.open and args.whitelist is None:
            raise WhitelistError("the tracker is not open (tracker.open: false): give --whitelist FILE")
        known = read_whitelist(args.whitelist) if args.whitelist else frozenset()
    except TorrentwebError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(cfg.log_level.upper())
    state = {"known": known}

    def reload():
        try:
            state["known"] = read_whitelist(args.whitelist)
        except WhitelistError as e:
            logging.error("whitelist not reloaded, keeping the old one: %s", e)

    tracker = Tracker(cfg.tracker, lambda ih: ih in state["known"])
    try:
        asyncio.run(serve(tracker, reload if args.whitelist else None))
    except BindError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
