"""apache/swap.py: pure, no sockets. What a browser without script and the loader each see."""
from hypothesis import given, settings, strategies as st

from torrentweb.page.swap import PLACEHOLDER, swap

ASSETS = {"/img/a.jpg", "/img/b.png", "/media/v.webm", "/media/poster.jpg"}


def test_img_src_moves_to_data_attribute_with_placeholder_and_noscript_copy():
    page = b'<p>x</p><img alt="A" src="/img/a.jpg" width="10">tail'
    assert swap(page, "/index.html", ASSETS) == (
        b'<p>x</p><img alt="A" data-torrent-src="/img/a.jpg" width="10" src="' + PLACEHOLDER.encode()
        + b'"><noscript><img alt="A" src="/img/a.jpg" width="10"></noscript>tail')


def test_relative_urls_resolve_against_the_page():
    out = swap(b"<img src=../img/a.jpg>", "/blog/post.html", ASSETS)
    assert out.startswith(b"<img data-torrent-src=../img/a.jpg src=")


def test_attribute_values_that_look_like_attributes_are_left_alone():
    out = swap(b'<img title=" src=/img/a.jpg" src="/img/a.jpg">', "/", ASSETS)
    assert out.startswith(b'<img title=" src=/img/a.jpg" data-torrent-src="/img/a.jpg" src="data:')


def test_srcset_is_swapped_only_when_every_candidate_is_in_the_torrent():
    both = b'<img src="/img/a.jpg" srcset="/img/a.jpg 1x, /img/b.png 2x">'
    assert b'data-torrent-srcset="/img/a.jpg 1x, /img/b.png 2x"' in swap(both, "/", ASSETS)
    mixed = b'<img src="/img/a.jpg" srcset="/img/a.jpg 1x, /img/other.png 2x">'
    assert swap(mixed, "/", ASSETS) == mixed          # all or nothing: stays plain HTTP


def test_video_with_sources_and_poster_is_one_unit():
    page = b'<video controls poster="/media/poster.jpg"><source src="/media/v.webm" type="video/webm"></video>'
    assert swap(page, "/", ASSETS) == (
        b'<video controls data-torrent-poster="/media/poster.jpg"><source data-torrent-src="/media/v.webm"'
        b' type="video/webm"></video><noscript>' + page + b"</noscript>")


def test_picture_is_copied_whole_after_its_end_tag():
    page = b'<picture><source srcset="/img/b.png" type="image/png"><img src="/img/a.jpg"></picture>!'
    out = swap(page, "/", ASSETS)
    assert out.endswith(b"</picture><noscript>" + page[:-1] + b"</noscript>!")
    assert b'<source data-torrent-srcset="/img/b.png"' in out


def test_pages_without_assets_other_hosts_and_noscript_copies_are_byte_identical():
    for page in (b"<img src='/img/zzz.jpg'>", b"<img src='http://elsewhere/img/a.jpg'>",
                 b"<noscript><img src='/img/a.jpg'></noscript>", b"<img src>",
                 b"<template><img src='/img/a.jpg'></template>", "<p>caf\xe9</p>".encode("latin-1"),
                 b"\xff\xfe<\x00i\x00m\x00g\x00"):
        assert swap(page, "/", ASSETS) == page


def test_non_utf8_bytes_around_a_swap_pass_through():
    page = "é<img src='/img/a.jpg'>ü".encode("latin-1")
    out = swap(page, "/", ASSETS)
    assert out.startswith("é<img data-torrent-src".encode("latin-1")) and out.endswith("ü".encode("latin-1"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet="<>=\"' /imgsrc.jpa\n", max_size=200).map(str.encode))
def test_any_input_gives_bytes_and_an_unchanged_page_when_nothing_matches(data):
    out = swap(data, "/", ASSETS)
    assert isinstance(out, bytes)
    if b"/img/a.jpg" not in data and b"/img/b.png" not in data:
        assert out == data
