"""The Apache side, through mod_wsgi: the HTML output filter and the WSGI middleware.

Only the standard library runs inside Apache: handler.wsgi -> handler.handle_request for
static pages, middleware(app) (wrap.py) for WSGI apps; both call filter.PageFilter, which
uses the pure scan.candidate_paths() and inject.inject().
"""
from .wrap import middleware

__all__ = ["middleware"]
