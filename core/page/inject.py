"""Insert markup at the start of a page's <head>: a pure function that never guesses.

The page's bytes are kept as they are: only the insertion is added. When the filter cannot
be sure where the head starts or that ASCII markup is safe in the page's encoding, it
returns None and the page is served unchanged.

Where: right after the <head> start tag when the document begins with it (after an optional
BOM, XML declaration, doctype, comments, <html> start tag and whitespace). A document whose
first element is not <head> (<html><body>..., or no <html> at all) gets the markup where the
head would start: the HTML parser opens an implied <head> for a <link> or <script> there.
"""
from __future__ import annotations

import re

_BOMS_UNSAFE = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")   # UTF-16/32: not ASCII-compatible
_UTF8_BOM = b"\xef\xbb\xbf"
# The prolog before <head>: whitespace, comments, <?xml ...?>, <!DOCTYPE ...>.
_SPACE = re.compile(rb"[ \t\r\n\f]*")
_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_DECL = re.compile(rb"<(?!!--)[!?][^<>]*>")      # never an unterminated comment's start
_START = re.compile(rb"<(html|head)(?=[\s/>])((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_OTHER_START = re.compile(rb"<[a-zA-Z]")
_HEADISH = re.compile(rb"<(html|head)(?![a-zA-Z0-9-])", re.I)
_UNSAFE_CHARSET = re.compile(rb"charset\s*=\s*[\"']?\s*(utf-?16|utf-?32|ucs-?2|iso-?2022|hz-gb|utf-?7)", re.I)
_PROLOG_LIMIT = 64 * 1024          # a head that starts later than this is not a head we trust


def inject(html: bytes, head_html: bytes) -> bytes | None:
    """html with head_html inserted at the start of the head, or None when unsure."""
    pos = insertion_point(html)
    if pos is None:
        return None
    return html[:pos] + head_html + html[pos:]


def insertion_point(html: bytes) -> int | None:
    """Byte offset where the head's content starts, or None when unsure."""
    if html.startswith(_BOMS_UNSAFE) or b"\x00" in html[:1024] or b"\x1b" in html[:_PROLOG_LIMIT]:
        return None
    if _UNSAFE_CHARSET.search(html, 0, _PROLOG_LIMIT):
        return None
    pos = len(_UTF8_BOM) if html.startswith(_UTF8_BOM) else 0
    seen_html = False
    while pos < min(len(html), _PROLOG_LIMIT):
        pos = _SPACE.match(html, pos).end()
        for skip in (_COMMENT, _DECL):
            m = skip.match(html, pos)
            if m:
                pos = m.end()
                break
        else:
            m = _START.match(html, pos)
            if m and m.group(1).lower() == b"head":
                return m.end()
            if m and not seen_html:
                seen_html = True
                pos = m.end()
                continue
            if _HEADISH.match(html, pos):     # <head or <html without a closing '>'
                return None
            if _OTHER_START.match(html, pos) or (seen_html and pos < len(html)):
                return pos
            return None
    return None
