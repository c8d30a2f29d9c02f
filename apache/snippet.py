"""`torrentweb apache-config`: the httpd snippet for this installation, from conf/ templates."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from torrentweb.naming import seed_name
from torrentweb.page import dynamic as dynamic_format, loadertag
from torrentweb.resources import apache_file

from .templates import render

HANDLER_NAME = "torrentweb-page"


def handler_path() -> Path:
    """The WSGIHandlerScript file: shipped inside the package."""
    return apache_file("handler.wsgi")


def apache_config(config) -> str:
    """The Include snippet: WSGIDaemonProcess, the handler bound to HTML files, the Aliases
    serving torrents and the web seed, and the tracker proxy."""
    pages, apache = config.pages, config.apache
    return render("httpd-torrentweb.conf.in", {
        "config": config.path or "torrentweb.yaml",
        "docroot": config.docroot,
        "state_dir": config.state_dir,
        "prefix": apache.prefix,
        "prefix_re": re.escape(apache.prefix),
        "seed_name": seed_name(config),
        "seed_name_re": re.escape(seed_name(config)),
        "base_path": config.base_path,
        "probe_source": config.access.probe_source,
        "probe_visitor": config.access.probe_visitor,
        "remoteip_header": config.access.remoteip_header,
        "user": apache.user,
        "group": apache.group,
        "processes": apache.processes,
        "threads": apache.threads,
        "process_group": "torrentweb" if apache.mode == "daemon" else "%{GLOBAL}",
        "python_home": apache.python_home or sys.prefix,
        "handler": handler_path(),
        "file_handler": apache_file("file.wsgi"),
        "large_file_size": pages.large_file_size,
        "max_page_size": pages.max_page_size,
        "p2p": pages.p2p,
        "state_dir_re": re.escape(str(config.state_dir)),
        "python": _python(apache),
        "rendered_copies": render("httpd-torrentweb-rendered.conf.in", {
            "state_dir": config.state_dir, "prefix": apache.prefix})
            if pages.rendered_copies else "    # (pages.rendered_copies is off)\n",
        "tracker_proxy": _tracker_proxy(config),
        "dynamic_pages": _dynamic_pages(config),
        "status_page": apache_file("status.html"),
        "loader_files": render("httpd-torrentweb-loader.conf.in", loadertag.snippet_values(config))
            if pages.p2p != "off" else "# (pages.p2p is off: no browser loader to serve)",
    })


def _dynamic_pages(config) -> str:
    dynamic = config.pages.dynamic
    if not (config.pages.enabled and dynamic.enabled):
        return "# (pages.dynamic is off: only static pages get torrent links)"
    return render("httpd-torrentweb-dynamic.conf.in", {
        "lua_filter": apache_file("dynamic.lua"),
        "selector": dynamic_selector(config),
        "probe_source": config.access.probe_source,
        "page_file_test": dynamic_format.selector_file_test(config.state_dir),
        "state_dir": config.state_dir,
        "max_page_size": config.pages.max_page_size,
        "revalidate": int(dynamic.revalidate),
        "php_filter": apache_file("dynamic.php"),
        "types": _alternatives(dynamic.content_types),
        "path_selector": dynamic_path_selector(config),
    })


def dynamic_selector(config) -> str:
    """The ap_expr choosing the responses the Lua filter sees: 200, the configured content
    types and URL paths; never torrentweb's own URLs, static pages (the WSGI handler) or their
    rendered copies."""
    types = _alternatives(config.pages.dynamic.content_types)
    return (f"%{{REQUEST_STATUS}} == 200 && %{{CONTENT_TYPE}} =~ m#^({types})([ ;]|$)#i"
            f" && {dynamic_path_selector(config)}"
            f" && %{{HANDLER}} != '{HANDLER_NAME}' && -z reqenv('REDIRECT_TORRENTWEB_COPY')")


def dynamic_path_selector(config) -> str:
    """The URL paths of the dynamic pages' selection: the configured prefixes, never
    torrentweb's own URLs."""
    return (f"%{{REQUEST_URI}} =~ m#^({_alternatives(config.pages.dynamic.paths)})#"
            f" && %{{REQUEST_URI}} !~ m#^{re.escape(config.apache.prefix)}#")


def _alternatives(words) -> str:
    """A regex alternation of literal words (ap_expr's and PHP's PCRE alike)."""
    return "|".join(re.escape(w) for w in words)


def _python(apache) -> str:
    """The interpreter of the request log's pipe: the virtualenv's, like the filter's."""
    if apache.python_home:
        return str(Path(apache.python_home) / "bin" / "python3")
    return sys.executable


def _tracker_proxy(config) -> str:
    http, ws = config.tracker.http, config.tracker.websocket
    if not http and not ws:
        return "# (no tracker configured: nothing to proxy)"
    return render("httpd-torrentweb-tracker.conf.in", {
        "tracker_http": http or "(none)",
        "tracker_ws": ws or "(none)",
        "tracker_ws_rule": (
            'RewriteCond "%{HTTP:Upgrade}" "=websocket" [NC]\n'
            f'RewriteRule "^/announce$" "ws://{_host(ws)}/announce" [P,L]' if ws
            else "# (no websocket tracker)"),
        "tracker_http_rule": (
            f'RewriteRule "^/(announce|scrape)$" "http://{_host(http)}/$1" [P,L]' if http
            else "# (no http tracker)"),
    })


def _host(address) -> str:
    """Where Apache connects: a wildcard listen address is reached on loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address.host, address.host)
    return f"[{host}]:{address.port}" if ":" in host else f"{host}:{address.port}"
