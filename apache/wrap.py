"""torrentweb.apache.middleware(app) (defined here): the same injection for sites that are WSGI apps.

It buffers 200 text/html responses that are not already compressed (up to max_page_size;
bigger ones stream through unchanged), injects the links, fixes Content-Length, derives a
new ETag from the app's and answers If-None-Match with 304 itself.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from torrentweb.errors import CatalogueUnavailable
from torrentweb.page.render import PageFilter, Settings

from . import conditional

log = logging.getLogger("torrentweb.apache")


def middleware(app, config=None, settings: Settings | None = None):
    """Wrap a WSGI app. config: a torrentweb Config, or the path of its YAML (default: the
    TORRENTWEB_CONFIG environment variable, else /etc/torrentweb/torrentweb.yaml)."""
    if settings is None:
        from torrentweb import config as config_module   # needs PyYAML: only when given a path
        if config is None:
            config = config_module.env_path()
        if isinstance(config, (str, Path)):
            config = config_module.load(config)
        settings = Settings.from_config(config)
    return TorrentMiddleware(app, PageFilter(settings))


class TorrentMiddleware:
    def __init__(self, app, page_filter: PageFilter):
        self.app = app
        self.filter = page_filter

    def __call__(self, environ, start_response):
        captured, chunks = {}, []

        def capture(status, headers, exc_info=None):
            if exc_info is not None and captured.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            captured.update(status=status, headers=list(headers))
            return chunks.append          # the legacy write() callable

        result = self.app(environ, capture)
        it = iter(result)
        while "status" not in captured:   # a lazy app calls start_response on first iteration
            chunk = next(it, None)
            if chunk is None:
                break
            chunks.append(chunk)
        if not self._wants(captured, environ):
            start_response(captured["status"], captured["headers"])
            return _Response(chunks, it, result)
        buf = bytearray(b"".join(chunks))
        for chunk in it:
            buf += chunk
            if len(buf) > self.filter.settings.max_page_size:    # too big: pass through
                start_response(captured["status"], captured["headers"])
                return _Response([bytes(buf)], it, result)
        _close(result)
        return self._respond(environ, start_response, captured, bytes(buf))

    def _wants(self, captured, environ) -> bool:
        headers = {k.lower(): v for k, v in captured.get("headers", [])}
        return (captured.get("status", "").startswith("200")
                and headers.get("content-type", "").split(";")[0].strip().lower() == "text/html"
                and "content-encoding" not in headers
                and environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"))

    def _respond(self, environ, start_response, captured, body: bytes):
        page_path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "/")
        try:
            rendered = self.filter.render(body, page_path)
        except CatalogueUnavailable as e:
            log.warning("%s; %s served without torrent links", e, page_path)
            rendered = None
        except Exception:
            log.exception("%s: the filter failed; served unchanged", page_path)
            rendered = None
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        if rendered is None or not rendered.injected:
            out = body
        else:
            out = rendered.body
            headers = [(k, _etag_with(v, rendered.etag_seed) if k.lower() == "etag" else v)
                       for k, v in headers]
            if not any(k.lower() == "etag" for k, _ in headers):
                headers.append(("ETag", f'"tw{hashlib.sha1(out).hexdigest()[:20]}"'))
        etag = next((v for k, v in headers if k.lower() == "etag"), None)
        if etag and environ.get("HTTP_IF_NONE_MATCH") and conditional.not_modified(
                {"HTTP_IF_NONE_MATCH": environ["HTTP_IF_NONE_MATCH"]}, etag, 0):
            start_response("304 Not Modified", [(k, v) for k, v in headers
                                                if k.lower() != "content-type"])
            return []
        start_response(captured["status"], headers + [("Content-Length", str(len(out)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [out]


def _etag_with(tag: str, seed: str) -> str:
    """The app's ETag, changed by the injected markup: "abc" -> "abc-tw<seed>"."""
    weak = tag.startswith("W/")
    core = tag[2:] if weak else tag
    if core.endswith('"'):
        core = core[:-1] + f'-tw{seed[:8]}"'
    return ("W/" if weak else "") + core


class _Response:
    """What was read ahead, then the rest; closes the app's result when done (PEP 3333)."""

    def __init__(self, head, rest, result):
        self.head, self.rest, self.result = head, rest, result

    def __iter__(self):
        yield from self.head
        yield from self.rest

    def close(self):
        _close(self.result)


def _close(result):
    close = getattr(result, "close", None)
    if close is not None:
        close()
