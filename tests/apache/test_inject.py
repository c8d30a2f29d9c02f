"""inject(): the page's bytes stay as they are, plus the insertion, or None when unsure."""
from hypothesis import given, settings, strategies as st

from torrentweb.page.inject import inject

TAG = b'<link rel="torrent" href="/t.torrent">'


def test_inserted_right_after_the_head_start_tag():
    page = b'<!DOCTYPE html>\n<!-- a <head> in a comment -->\n<html lang="a>b">\n<HEAD id=h>\n<title>x</title>'
    assert inject(page, TAG) == page.replace(b"<HEAD id=h>", b"<HEAD id=h>" + TAG)


def test_bom_xml_declaration_and_whitespace_are_kept():
    page = b'\xef\xbb\xbf<?xml version="1.0"?>\n  <html><head><title>x'
    assert inject(page, TAG) == page.replace(b"<head>", b"<head>" + TAG)


def test_without_head_the_link_goes_where_the_head_would_start():
    assert inject(b"<html><body>x</body></html>", TAG) == b"<html>" + TAG + b"<body>x</body></html>"
    assert inject(b"<!doctype html><p>x", TAG) == b"<!doctype html>" + TAG + b"<p>x"


def test_header_element_is_not_head():
    assert inject(b"<html><header>x</header>", TAG) == b"<html>" + TAG + b"<header>x</header>"


def test_unsure_pages_are_left_alone():
    for page in [b"", b"plain text, not html", b"\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00",
                 b"\xfe\xff\x00<\x00h", b'<meta charset="UTF-16"><head>', b"<html><head",
                 b"<!-- never closed <head>", b"\x1b$B<head>", b"<head" + b" a=1" * 30000]:
        assert inject(page, TAG) is None, page[:40]


def test_latin1_and_shift_jis_pages_keep_their_bytes():
    latin1 = "<html><head><title>Café</title>".encode("latin-1")
    sjis = "<html><head><title>日本語</title>".encode("shift_jis")
    for page in (latin1, sjis):
        out = inject(page, TAG)
        assert out.replace(TAG, b"", 1) == page


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_fuzzed_bytes_either_pass_unchanged_or_gain_exactly_the_insertion(page):
    out = inject(page, TAG)
    if out is not None:
        i = out.index(TAG)
        assert out[:i] + out[i + len(TAG):] == page


HTMLISH = st.lists(st.sampled_from([
    b"<html>", b"<HEAD>", b"<head class='x>'>", b"</head>", b"<body>", b"<!--", b"-->", b"<!DOCTYPE html>",
    b"<?xml?>", b"<", b">", b"'", b'"', b" ", b"\n", b"\xef\xbb\xbf", b"\xff\xfe", b"<header>", b"text",
    b"<meta charset=utf-16>", b"<img src=a.jpg>", b"\x00", b"\xe9"]), max_size=30).map(b"".join)


@settings(max_examples=600, deadline=None)
@given(HTMLISH)
def test_fuzzed_malformed_html_keeps_every_byte(page):
    out = inject(page, TAG)
    if out is not None:
        assert out.count(TAG) == 1
        i = out.index(TAG)
        assert out[:i] + out[i + len(TAG):] == page
        assert b"<!--" not in page[:i] or b"-->" in page[:i]      # never inside a comment


def test_an_unterminated_comment_is_not_taken_for_a_declaration():
    """Found by the fuzzer above: `<!--'>` looked like a <!...> declaration, and the link went
    after a <head> that the browser reads as part of the comment."""
    assert inject(b"<!--'><HEAD>", TAG) is None
