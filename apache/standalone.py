"""A self-contained httpd.conf around the snippet, for the tests, the benchmark and the demo.

It loads the usual modules from Debian's /usr/lib/apache2/modules, listens on one loopback
port and never reads /etc/apache2.
"""
from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

from .snippet import apache_config
from .templates import render


@functools.lru_cache(maxsize=1)
def wsgi_module_config() -> str:
    """The LoadModule and WSGIPythonHome lines `mod_wsgi-express module-config` prints for
    this Python (exactly what the README tells an operator to paste)."""
    express = Path(sys.prefix) / "bin" / "mod_wsgi-express"
    out = subprocess.run([str(express), "module-config"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def standalone_config(config, server_root: Path, port: int, extra: str = "",
                      snippet: str | None = None, mpm: str = "event") -> dict[str, str]:
    """Files to write under server_root: {'httpd.conf': ..., 'torrentweb.conf': ...}.
    mpm: event, or prefork (what Debian's mod_php needs)."""
    server_root = Path(server_root)
    return {
        "torrentweb.conf": apache_config(config) if snippet is None else snippet,
        "httpd.conf": render("httpd-standalone.conf.in", {
            "server_root": server_root,
            "port": port,
            "mpm": mpm,
            "user": config.apache.user,
            "group": config.apache.group,
            "wsgi_module_config": wsgi_module_config(),
            "docroot": config.docroot,
            "extra": extra,
            "snippet": server_root / "torrentweb.conf",
        }),
    }
