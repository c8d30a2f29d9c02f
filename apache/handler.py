"""The WSGIHandlerScript behind handler.wsgi: serves the .html/.htm file Apache mapped the URL
to (SCRIPT_FILENAME), with its torrent links. Any failure of the filter is logged and the
page is served as it is on disk: a broken filter never breaks the site."""
from __future__ import annotations

import logging
import mimetypes
import os
import sys
import threading

from torrentweb.errors import CatalogueUnavailable
from torrentweb.page.render import PageFilter, Rendered, Settings

from . import conditional

log = logging.getLogger("torrentweb.apache")
if not log.handlers:                     # mod_wsgi sends stderr to Apache's error log
    _h = logging.StreamHandler(sys.stderr)
    _h.setFormatter(logging.Formatter("torrentweb: %(levelname)s: %(message)s"))
    log.addHandler(_h)
    log.setLevel(logging.INFO)
    log.propagate = False

_ENV_KEYS = ("TORRENTWEB_DOCROOT", "TORRENTWEB_STATE_DIR", "TORRENTWEB_PREFIX",
             "TORRENTWEB_LARGE_FILE_SIZE", "TORRENTWEB_MAX_PAGE_SIZE", "TORRENTWEB_P2P",
             "TORRENTWEB_LOADER_DIR", "TORRENTWEB_LOADER_SETTINGS")
_filters: dict[tuple, PageFilter] = {}
_filters_lock = threading.Lock()
_last_unavailable: list = [None]


def _filter_for(environ) -> PageFilter:
    """One PageFilter per distinct set of TORRENTWEB_* values (one per <Directory> binding)."""
    key = tuple(environ.get(name) for name in _ENV_KEYS)
    f = _filters.get(key)
    if f is None:
        with _filters_lock:
            f = _filters.get(key)
            if f is None:
                f = _filters[key] = PageFilter(Settings.from_environ(environ))
    return f


def handle_request(environ, start_response):
    f, refused = _open_mapped(environ, start_response)
    if f is None:
        return refused
    filename = f.name
    st = os.fstat(f.fileno())
    try:
        filt = _filter_for(environ)
        too_big = st.st_size > filt.settings.max_page_size
    except Exception:
        log.exception("%s: filter settings unusable; served unchanged", filename)
        filt, too_big = None, False
    if too_big:                         # streamed unchanged, never read whole
        return _send(environ, start_response, st, None, stream=f)
    with f:
        body = f.read()
    rendered = _render(filt, body, filename, environ, st) if filt is not None else None
    return _send(environ, start_response, st, rendered or Rendered(body, False, "", 0.0))


def handle_whole_file(environ, start_response):
    """file.wsgi: SCRIPT_FILENAME as it is on disk, length and bytes from one open file."""
    f, refused = _open_mapped(environ, start_response)
    if f is None:
        return refused
    kind = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
    return _send(environ, start_response, os.fstat(f.fileno()), None, stream=f, content_type=kind)


def _open_mapped(environ, start_response):
    """(the file Apache mapped the URL to, open, None), or (None, the refusal to send instead)."""
    if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
        return None, _not_allowed(start_response)
    try:
        return open(environ.get("SCRIPT_FILENAME", ""), "rb"), None
    except FileNotFoundError:
        return None, _error(start_response, "404 Not Found")
    except (IsADirectoryError, PermissionError):
        return None, _error(start_response, "403 Forbidden")


def _render(filt: PageFilter, body: bytes, filename: str, environ, st) -> Rendered | None:
    try:
        page_path = filt.page_path_for(filename) or environ.get("REQUEST_URI", "/").split("?")[0]
        return filt.render(body, page_path, identity=(filename, st.st_size, st.st_mtime_ns, st.st_ino))
    except CatalogueUnavailable as e:
        if _last_unavailable[0] != str(e):           # once per distinct reason, not per request
            _last_unavailable[0] = str(e)
            log.warning("%s; pages are served without torrent links", e)
    except Exception:
        log.exception("%s: the filter failed; served unchanged", filename)
    return None


def _send(environ, start_response, st, rendered: Rendered | None, stream=None,
          content_type: str = "text/html"):
    seed = rendered.etag_seed if rendered else ""
    size = len(rendered.body) if rendered else st.st_size
    last_modified = max(st.st_mtime, rendered.built if rendered else 0.0)
    tag = conditional.etag(st.st_size, st.st_mtime_ns, seed)
    headers = [("Content-Type", content_type), ("ETag", tag),
               ("Last-Modified", conditional.http_date(last_modified))]
    if conditional.not_modified(environ, tag, last_modified):
        _close(stream)
        start_response("304 Not Modified", headers)
        return []
    start_response("200 OK", headers + [("Content-Length", str(size))])
    if environ.get("REQUEST_METHOD") == "HEAD":
        _close(stream)
        return []
    if rendered is not None:
        return [rendered.body]
    wrapper = environ.get("wsgi.file_wrapper")
    return wrapper(stream, 65536) if wrapper else iter(lambda: stream.read(65536), b"")


def _close(stream):
    if stream is not None:
        stream.close()


def _not_allowed(start_response):
    start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain"),
                                              ("Content-Length", "19")])
    return [b"Method Not Allowed\n"]


def _error(start_response, status: str):
    body = status.encode() + b"\n"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
