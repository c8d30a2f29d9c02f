"""Dynamic pages (PHP, CGI, proxied apps): what the daemon writes and Apache's mod_lua filter
(apache/dynamic.lua) and, for PHP pages, the PHP one (apache/dynamic.php) read, in one place.

The filters cannot parse HTML and must stay fast, so the daemon, which fetched the page's
anonymous view and ran the same scan, plan and swap as for static pages, hands it literal
work only: "if the body starts with exactly PREFIX, insert HEAD after it; replace each of these
element bytes, found once, by these". Any mismatch leaves the page (or the element) unchanged.

Under <state_dir>/dynamic/:
  pages/<name>.lua       one per requested URL: `return {...}`, loaded by the Lua filter with
                         an empty environment (text only), parsed as data by the PHP one;
                         empty: nothing to add, and no filter runs (the snippet's
                         FilterProvider tests -s, the PHP one its size)
  requests/<name>        dropped by the filter when a page has no current file; holds the
                         request target as sent (path?query), which the daemon fetches
<name> is the SHA-1 (hex) of Apache's decoded URL path, "?" and the query string: what both
ap_expr (sha1(%{REQUEST_URI} . '?' . %{QUERY_STRING})) and the Lua filter compute (the PHP
one gets it from the snippet: TORRENTWEB_DYNAMIC_PAGE).
"""
from __future__ import annotations

import hashlib
import re

from .inject import insertion_point

VERSION = 2                    # 2: hex escapes (1 had decimal ones)
MAX_PREFIX = 4096              # a head that starts later is not one we trust to be the same
MAX_TARGET = 2048
# a request target the daemon may fetch: origin-form, printable, no fragment
_TARGET = re.compile(r"^/[\x21-\x7e]*$")


def pages_dir(state_dir):
    return state_dir / "dynamic" / "pages"


def requests_dir(state_dir):
    return state_dir / "dynamic" / "requests"


_NAME = re.compile(r"^[0-9a-f]{40}$")


def file_name(path: str, query: str = "") -> str:
    """The file name of a page: path as Apache decoded it, its query string."""
    return hashlib.sha1(f"{path}?{query}".encode("utf-8", "surrogateescape")).hexdigest()


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def selector_file(state_dir) -> str:
    """The ap_expr word naming a page's file (the snippet's FilterProvider)."""
    return (f"'{pages_dir(state_dir)}/' . sha1(%{{REQUEST_URI}} . '?' . %{{QUERY_STRING}}) . '.lua'")


def valid_target(target: str) -> bool:
    return len(target) <= MAX_TARGET and bool(_TARGET.match(target))


def lua_string(data: bytes) -> str:
    """A Lua string literal of any bytes: hex escapes (\\xHH) for all but plain printable ASCII,
    which PHP's stripcslashes() reads back as they are (apache/dynamic.php)."""
    out = []
    for b in data:
        c = chr(b)
        out.append(c if 0x20 <= b < 0x7f and c not in '"\\' else f"\\x{b:02x}")
    return '"' + "".join(out) + '"'


def page_file(body: bytes, head: bytes, edits, etag_seed: str) -> bytes | None:
    """The filter's instructions for a page whose anonymous view is `body`; None when the head's
    start cannot be told (inject.py's rules) or lies too far in."""
    pos = insertion_point(body)
    if pos is None or pos > MAX_PREFIX:
        return None
    items = ",".join("{" + lua_string(a) + "," + lua_string(b) + "}" for a, b in edits)
    return (f"return {{v={VERSION},prefix={lua_string(body[:pos])},head={lua_string(head)},"
            f"etag={lua_string(etag_seed.encode('ascii'))},edits={{{items}}}}}\n").encode("ascii")


def nothing_file() -> bytes:
    """A page with nothing to add (no published asset, not HTML, already linked elsewhere): an
    empty file, so Apache does not run the filter for it; the daemon removes it after
    pages.dynamic.revalidate, and the next request asks again."""
    return b""
