"""Regenerate conf/httpd-torrentweb.conf, the commented example of `torrentweb apache-config`:

    .venv/bin/python -m torrentweb.apache.example --write

It is rendered from conf/torrentweb.yaml with fixed, typical paths, so it reads the same on
every machine (tests/apache/test_snippet.py checks that it is up to date).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from torrentweb.config import loads
from torrentweb.resources import apache_file, conf_dir, loader_dir

from .snippet import apache_config

EXAMPLE_PATHS = {"docroot": Path("/var/www/html"), "state_dir": Path("/var/lib/torrentweb"),
                 "path": Path("/etc/torrentweb/torrentweb.yaml")}
PYTHON_HOME = "/opt/torrentweb/venv"


def example(yaml_text: str) -> str:
    config = loads(yaml_text.replace("docroot: /var/www/html", "docroot: /"))
    config = dataclasses.replace(config, **EXAMPLE_PATHS,
                                 apache=dataclasses.replace(config.apache, python_home=PYTHON_HOME))
    text = apache_config(config)
    installed = f"{PYTHON_HOME}/lib/python3.11/site-packages/torrentweb"
    text = text.replace(str(apache_file("handler.wsgi").parent), f"{installed}/apache")
    return text.replace(str(loader_dir()), f"{installed}/loader")


HEADER = ("# Generated from conf/torrentweb.yaml by: .venv/bin/python -m torrentweb.apache.example --write\n"
          "# (the one for your installation: torrentweb apache-config -c /etc/torrentweb/torrentweb.yaml)\n")


def example_file() -> str:
    return HEADER + example((conf_dir() / "torrentweb.yaml").read_text())


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--write"]:
        (conf_dir() / "httpd-torrentweb.conf").write_text(example_file())
    else:
        print(example_file(), end="")
