"""torrentweb: BitTorrent for the web's heavy content, beside Apache httpd."""
__version__ = "0.1.0"
