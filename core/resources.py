"""Files torrentweb ships beside its code: the httpd and systemd templates (conf/), the Apache
side's handler and status page, the browser loader and its webtorrent bundle (loader/).

Found through importlib.resources, the same way in a checkout, an editable install and an
installed wheel; never by walking up from a module's __file__.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _directory(package: str) -> Path:
    return Path(str(files(package)))


def conf_dir() -> Path:
    """conf/: httpd-*.conf.in templates, torrentweb.yaml, the systemd unit."""
    return _directory("torrentweb.conf")


def loader_dir() -> Path:
    """loader/: src/torrentweb-loader.js and node_modules/webtorrent/dist/ (npm ci in a
    checkout; copied into the wheel when it is built after `make npm`)."""
    return _directory("torrentweb.loader")


def apache_file(name: str) -> Path:
    """A file of the Apache side: handler.wsgi, file.wsgi, status.html."""
    return _directory("torrentweb.apache") / name
