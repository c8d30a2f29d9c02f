"""WSGIHandlerScript for a file the daemon replaces while Apache serves it (status.json, every
2 s): Apache's own handler takes the length from its stat of the path and the bytes from the file
it opens next, so a file renamed over in between went out cut (or short of its Content-Length).
This opens the file once and sends that one file whole."""
from torrentweb.apache.handler import handle_whole_file as handle_request  # noqa: F401
