"""candidate_paths(): a page's embedded assets as docroot-relative paths, without sockets."""
from torrentweb.page.scan import candidate_paths


def test_img_srcset_picture_video_audio_and_downloads():
    page = b"""<img src="a.jpg"><img srcset="b.png 1x, c.png 2x" src=d.gif>
    <picture><source srcset="/e.webp 100w"></picture><video src=v.mp4 poster='p.jpg'>
    <source src="v.webm"></video><audio src="s.ogg"></audio><a href="f.zip" download>f</a>
    <a href="not-a-download.zip">x</a><link rel=stylesheet href=style.css>"""
    assert candidate_paths(page, "/dir/page.html") == [
        "dir/a.jpg", "dir/b.png", "dir/c.png", "dir/d.gif", "dir/f.zip", "dir/p.jpg", "dir/s.ogg",
        "dir/v.mp4", "dir/v.webm", "e.webp"]


def test_relative_urls_resolve_against_the_page_or_its_base():
    assert candidate_paths(b"<img src='../img/a%20b.jpg?v=2#x'>", "/blog/post/") == ["blog/img/a b.jpg"]
    assert candidate_paths(b"<base href='/static/'><img src='a.jpg'>", "/p.html") == ["static/a.jpg"]
    assert candidate_paths(b"<img src='a&amp;b.jpg'>", "/p.html") == ["a&b.jpg"]


def test_only_the_site_itself_and_nothing_hidden_or_escaping():
    page = b"""<img src="https://cdn.example/x.jpg"><img src="//cdn.example/y.jpg">
    <img src="https://site.example/ok.jpg"><img src="/.git/config.jpg"><img src="data:image/png;base64,AA">
    <img src="dir/"><img src=""><img src="/a%00b.jpg"><img src="a\\\\b.jpg">"""
    assert candidate_paths(page, "/p.html", "/", "https://site.example") == ["ok.jpg"]


def test_base_path_of_a_site_below_the_root():
    assert candidate_paths(b"<img src='/blog/i.jpg'><img src='/other/j.jpg'>", "/blog/p.html",
                           "/blog/") == ["i.jpg"]


def test_comments_scripts_and_templates_do_not_count():
    page = b"""<!-- <img src=c.jpg> --><script>document.write('<img src=s.jpg>')</script>
    <template><img src=t.jpg></template><style>/* <img src=y.jpg> */</style><img alt='>' src=real.jpg>"""
    assert candidate_paths(page, "/p.html") == ["real.jpg"]


def test_uppercase_and_unquoted_attributes():
    assert candidate_paths(b"<IMG SRC=A.JPG><Video Poster=P.PNG></Video>", "/x.htm") == ["A.JPG", "P.PNG"]


def test_the_scan_and_the_swap_read_a_page_alike():
    """They used to parse differently: the scan honoured <base href> and the swap did not, so
    the bundle held media/a.jpg and the image was never swapped; the scan counted noscript
    copies that the swap skipped."""
    from torrentweb.page.swap import swap
    page = (b"<html><head><base href='/media/'></head><body><img src='a.jpg'>"
            b"<noscript><img src='b.jpg'></noscript><svg><image href='c.jpg'/></svg>"
            b"<img src='https://site.example/media/d.jpg'></body></html>")
    found = candidate_paths(page, "/p.html", "/", "https://site.example")
    assert found == ["media/a.jpg", "media/d.jpg"]
    swapped = swap(page, "/p.html", ["/" + p for p in found], "/", "https://site.example")
    assert swapped.count(b"data-torrent-src=") == 2
    assert b"data-torrent-src='a.jpg'" in swapped
    assert b"data-torrent-src='https://site.example/media/d.jpg'" in swapped
