"""The `torrentweb` command. Only this module calls sys.exit.

Exit codes: 0 success; 1 a runtime failure (the daemon could not start, no daemon runs);
2 a configuration mistake or a usage error.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

from . import __version__, config as configuration
from .errors import ConfigError, TorrentwebError

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
_SYSLOG = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    """Under systemd, `<N>` prefixes give journald the level; elsewhere, a timestamp."""

    def format(self, record):
        return f"<{_SYSLOG.get(record.levelno, 6)}>{super().format(record)}"


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def printable(text: str) -> str:
    """A file name as a log can show it: control characters (a newline would forge a line)
    and undecodable bytes (surrogate escapes) written as escapes."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace")
                            .decode("ascii") if ord(m.group()) < 0xd800 else f"\\x{ord(m.group()) - 0xdc00:02x}", text)


class _PrintableArgs(logging.Filter):
    """Every string argument of a log call goes out printable (names come from the disk)."""

    def filter(self, record):
        if isinstance(record.args, tuple):
            record.args = tuple(printable(a) if isinstance(a, str) else a for a in record.args)
        return True


def setup_logging(level: str):
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_PrintableArgs())
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def cmd_check_config(args) -> int:
    cfg = configuration.load(args.config)
    print(f"{args.config}: OK")
    if args.verbose:
        print(configuration.describe(cfg))
    return EXIT_OK


def cmd_seeder(args) -> int:
    cfg = configuration.load(args.config)
    setup_logging(args.log_level or cfg.log_level)
    from torrentweb.seeder import daemon
    return daemon.run(cfg, log_level=args.log_level)


def cmd_status(args) -> int:
    """Read what the running daemon last wrote: it refreshes status.json every 2 s."""
    cfg = configuration.load(args.config)
    path = cfg.state_dir / "status.json"
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        print(f"no running daemon: {path} is missing (is `torrentweb seeder` running?)",
              file=sys.stderr)
        return EXIT_FAILURE
    if not _alive(status.get("pid")) or time.time() - status.get("updated", 0) > 30:
        print(f"no running daemon: {path} is stale (pid {status.get('pid')})", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(format_status(status))
    return EXIT_OK


def format_status(s: dict) -> str:
    lines = [
        f"pid {s['pid']}, up {time.time() - s['started']:.0f} s, config {s['config']}",
        "listening: " + ", ".join(f"{k} {v}" for k, v in s.get("addresses", {}).items()),
        f"torrents: {s['torrents']}, peers: {s['peers']}, uploaded: {s['uploaded'] / 2**20:.1f} MiB,"
        f" upload rate: {s['upload_rate'] / 1024:.0f} KiB/s",
    ]
    from torrentweb.seeder.metrics import figures
    from torrentweb.seeder.status import Status
    f = figures(Status.from_json(s))
    lines.append(f"completed downloads: {f.completed} ({f.delivered / 2**20:.1f} MiB), "
                 f"offload: {f.offload:.0%} of them from other peers, not the seeder")
    tracker = s.get("tracker")
    if tracker:
        lines.append("tracker: " + ", ".join(f"{k} {v}" for k, v in tracker.items()
                                             if not isinstance(v, (list, dict))))
    if s.get("hashing"):
        lines.append("hashing: " + ", ".join(s["hashing"]))
    for t in sorted(s.get("per_torrent", []), key=lambda t: -t["uploaded"])[:20]:
        lines.append(f"  {t['info_hash']} {t['name']}: {t['peers']} peers, "
                     f"{t['uploaded'] / 2**20:.1f} MiB up")
    return "\n".join(lines)


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, TypeError, ValueError):
        return False


def cmd_info_hashes(args) -> int:
    """The published info-hashes, one per line: the whitelist of a shared tracker (opentracker's
    access.whitelist; README "Scaling past one machine"). Every frontend of a site has the same."""
    from torrentweb.catalogue import CatalogueReader
    cfg = configuration.load(args.config)
    reader = CatalogueReader(cfg.catalogue_path)
    try:
        text = "".join(f"{ih}\n" for ih in reader.info_hashes())
    finally:
        reader.close_thread()
    if args.output:
        from torrentweb.seeder.builder import write_atomically
        write_atomically(Path(args.output), text.encode("ascii"))
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_apache_config(args) -> int:
    cfg = configuration.load(args.config)
    from torrentweb.apache.snippet import apache_config
    sys.stdout.write(apache_config(cfg))
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torrentweb", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"torrentweb {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, func, help):
        c = sub.add_parser(name, help=help)
        c.add_argument("-c", "--config", default=configuration.env_path(),
                       help="the YAML file (default: $TORRENTWEB_CONFIG or /etc/torrentweb/torrentweb.yaml)")
        c.set_defaults(func=func)
        return c

    c = command("check-config", cmd_check_config, "validate the YAML; exit 2 naming file:line:col: key")
    c.add_argument("-v", "--verbose", action="store_true", help="also print the effective settings")
    c = command("seeder", cmd_seeder, "run the daemon in the foreground (what systemd runs)")
    c.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    c = command("status", cmd_status, "what the running daemon seeds and tracks")
    c.add_argument("--json", action="store_true")
    command("apache-config", cmd_apache_config, "print the httpd Include snippet for this installation")
    c = command("info-hashes", cmd_info_hashes, "print the published info-hashes (a shared tracker's whitelist)")
    c.add_argument("-o", "--output", help="write them to this file instead (atomically: a tracker never reads half)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"torrentweb: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except TorrentwebError as e:
        print(f"torrentweb: {e}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
