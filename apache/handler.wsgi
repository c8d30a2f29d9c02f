"""WSGIHandlerScript for static HTML pages: mod_wsgi calls handle_request for every .html/.htm
file Apache maps a URL to (SCRIPT_FILENAME); it serves the page with the torrent links added."""
from torrentweb.apache.handler import handle_request  # noqa: F401
