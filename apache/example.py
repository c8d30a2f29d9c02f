"""Regenerate conf/httpd-torrentweb.conf, the commented example of `torrentweb apache-config`:

    .venv/bin/python -m torrentweb.apache.example --write

It is rendered from conf/torrentweb.yaml with fixed, typical paths, so it reads the same on
every machine (tests/apache/test_snippet.py checks that it is up to date).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from torrentweb.config import loads

from .snippet import apache_config

EXAMPLE_PATHS = {"docroot": Path("/var/www/html"), "state_dir": Path("/var/lib/torrentweb"),
                 "path": Path("/etc/torrentweb/torrentweb.yaml")}
PYTHON_HOME = "/opt/torrentweb/venv"


def example(yaml_text: str) -> str:
    config = loads(yaml_text.replace("docroot: /var/www/html", "docroot: /"))
    config = dataclasses.replace(config, **EXAMPLE_PATHS,
                                 apache=dataclasses.replace(config.apache, python_home=PYTHON_HOME))
    text = apache_config(config)
    text = text.replace(str(Path(__file__).resolve().parent / "handler.wsgi"),
                        f"{PYTHON_HOME}/lib/python3.11/site-packages/torrentweb/apache/handler.wsgi")
    text = text.replace(str(Path(__file__).resolve().parent), f"{PYTHON_HOME}/lib/python3.11/site-packages/torrentweb/apache")
    return text


HEADER = ("# Generated from conf/torrentweb.yaml by: .venv/bin/python -m torrentweb.apache.example --write\n"
          "# (the one for your installation: torrentweb apache-config -c /etc/torrentweb/torrentweb.yaml)\n")


def example_file() -> str:
    conf = Path(__file__).resolve().parents[1] / "conf"
    return HEADER + example((conf / "torrentweb.yaml").read_text())


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--write"]:
        (Path(__file__).resolve().parents[1] / "conf" / "httpd-torrentweb.conf").write_text(example_file())
    else:
        print(example_file(), end="")
