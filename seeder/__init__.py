"""The companion daemon: watches the document root, builds torrents, seeds them, tracks them."""
