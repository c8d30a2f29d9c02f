"""torrentweb.conf: the httpd snippet templates, the example YAML and the systemd unit, shipped
as package data (torrentweb.resources.conf_dir())."""
