"""The browser loader's `<script>` tag: URL, SRI hash, and the YAML thresholds as data-* attributes.

The filter reads no YAML, so `torrentweb apache-config` renders the `loader:` section into one
environment value (`settings_env`), and the filter turns it back into attributes
(`tag_from_environ`). Apache serves the loader from `{prefix}js/` (loader/src/) and the
webtorrent bundle from `{prefix}js/webtorrent/` (loader/node_modules/webtorrent/dist/).
Standard library only.
"""
from __future__ import annotations

import base64
import hashlib
import html
import os
from pathlib import Path

from torrentweb.errors import TorrentwebError
from torrentweb.resources import loader_dir
from typing import Dict, Mapping, Optional

LOADER_FILE = "torrentweb-loader.js"
BUNDLE_FILE = "webtorrent.min.js"
# setting -> how the YAML value is written into the attribute
SETTINGS = ("p2p", "deadline", "scrape", "upload-limit", "seed-time",
            "metered-upload", "max-file-size")

# When the loader itself cannot load (blocked, SRI mismatch): put the plain URLs back.
RESTORE_ON_ERROR = (
    "document.querySelectorAll('[data-torrent-src],[data-torrent-srcset],[data-torrent-poster]')"
    ".forEach(function(e){['src','srcset','poster'].forEach(function(a){"
    "var v=e.getAttribute('data-torrent-'+a);"
    "if(v!==null){e.removeAttribute('data-torrent-'+a);e.setAttribute(a,v)}})})"
)


class LoaderSettingsError(TorrentwebError, ValueError):
    """TORRENTWEB_LOADER_SETTINGS is not what `torrentweb apache-config` renders."""


def default_loader_dir() -> Path:
    """The loader's files as installed with the package (torrentweb.resources)."""
    return loader_dir()


def snippet_values(config) -> Dict[str, str]:
    """Values for conf/httpd-torrentweb-loader.conf.in (rendered into `torrentweb apache-config`
    unless pages.p2p is off)."""
    return {"prefix": config.apache.prefix, "docroot": str(config.docroot),
            "loader_dir": str(default_loader_dir()), "loader_settings": settings_env(config.loader)}


def settings_env(loader) -> str:
    """A LoaderConfig as one SetEnv value: `deadline=3 scrape=1 ...` (no quotes needed).
    p2p=1: the tag is there only when pages.p2p is not off (the loader keeps data-p2p="0" as
    a site's own way to switch a page off)."""
    values = {
        "p2p": 1, "deadline": loader.deadline, "scrape": int(loader.scrape),
        "upload-limit": loader.upload_limit,
        "seed-time": loader.seed_time, "metered-upload": int(loader.metered_upload),
        "max-file-size": loader.max_file_size,
    }
    return " ".join(f"{k}={_number(v)}" for k, v in values.items())


def parse_settings(text: str) -> Dict[str, str]:
    """`deadline=3 scrape=1` -> {'deadline': '3', 'scrape': '1'}; only known, numeric values."""
    out = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or key not in SETTINGS:
            raise LoaderSettingsError(
                f"TORRENTWEB_LOADER_SETTINGS: {item!r}: expected key=number with key one of "
                f"{', '.join(SETTINGS)}")
        try:
            if float(value) < 0:
                raise ValueError
        except ValueError:
            raise LoaderSettingsError(
                f"TORRENTWEB_LOADER_SETTINGS: {key}: expected a number that is not negative, "
                f"got {value!r}") from None
        out[key] = value
    return out


_SRI_CACHE: Dict[tuple, str] = {}


def integrity(path: Path) -> str:
    """`sha384-...` of the file, recomputed only when its size or mtime changes."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SRI_CACHE:
        digest = hashlib.sha384(Path(path).read_bytes()).digest()
        _SRI_CACHE[key] = "sha384-" + base64.b64encode(digest).decode()
    return _SRI_CACHE[key]


def loader_tag(prefix: str, loader_dir: Path, settings: Mapping[str, str]) -> str:
    """The `<script>` to put into `<head>` (prefix is apache.prefix, such as /.torrentweb/)."""
    script = Path(loader_dir) / "src" / LOADER_FILE
    attrs = {
        "src": f"{prefix}js/{LOADER_FILE}",
        "integrity": integrity(script),
        "crossorigin": "anonymous",
        "data-bundle": f"{prefix}js/webtorrent/{BUNDLE_FILE}",
        **{f"data-{k}": v for k, v in settings.items()},
        "onerror": RESTORE_ON_ERROR,
    }
    rendered = " ".join(f'{k}="{html.escape(str(v), quote=True)}"' for k, v in attrs.items())
    return f"<script defer {rendered}></script>"


def cold(tag: str) -> str:
    """The tag of a cold page: fetched at low priority. Chromium holds images back while a
    script in <head> is in flight, and a cold page's loader has nothing to do before `load`:
    at normal priority the images waited for it (1.20-1.25x plain HTTP, bench/browser.py
    --only cold; fetchpriority="low": 0.96-1.01x)."""
    return tag.replace("<script defer ", '<script defer fetchpriority="low" ', 1)


# Runs right after a hot page's loader tag (its previous sibling) while <head> parses: the
# bundle's fetch starts then, not once the deferred loader runs after parsing. Only for a
# visitor the loader will take to the swarm: the same tests as the loader's blockedReason()
# (the site's data-p2p="0", the visitor's opt-out flag, Save-Data, no WebRTC), so that one it
# leaves on plain HTTP loads no bundle. A CSP without inline scripts skips it: no preload.
PRELOAD_BUNDLE = (
    "<script>(function(s){var o;try{o=localStorage.getItem('torrentweb-opt-out')==='1'}catch(e){}"
    "if(o||!s||s.dataset.p2p==='0'||(navigator.connection||{}).saveData||"
    "typeof RTCPeerConnection==='undefined')return;"
    "var l=document.createElement('link');l.rel='modulepreload';l.href=s.dataset.bundle;"
    "l.crossOrigin='anonymous';document.head.appendChild(l)})"
    "(document.currentScript.previousElementSibling)</script>"
)


def hot(tag: str) -> str:
    """The tag of a hot page: the loader, then the bundle's fetch started while the page parses.
    The deferred loader asks for the bundle only after parsing; on a home line the bundle was
    in 73 ms sooner (417 against 490 ms; bench/browser.py --net home --only uncapped)."""
    return tag + PRELOAD_BUNDLE


def tag_from_environ(environ: Mapping[str, str]) -> Optional[str]:
    """The tag for a request, from the SetEnv values of the snippet; None when the loader is
    off (TORRENTWEB_P2P off or not set) or its file is missing (the page is then served untouched)."""
    if environ.get("TORRENTWEB_P2P", "off") not in ("auto", "always"):
        return None
    loader_dir = Path(environ.get("TORRENTWEB_LOADER_DIR") or default_loader_dir())
    settings = parse_settings(environ.get("TORRENTWEB_LOADER_SETTINGS", ""))
    try:
        return loader_tag(environ.get("TORRENTWEB_PREFIX", "/.torrentweb/"), loader_dir, settings)
    except FileNotFoundError:
        return None


def _number(v) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))
