"""torrentweb.loader: the browser loader's script and the webtorrent bundle it imports, shipped
as package data (torrentweb.resources.loader_dir())."""
