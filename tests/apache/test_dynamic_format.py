"""What the daemon hands the Lua filter for a dynamic page (torrentweb.page.dynamic, swap_edits):
literal work only, and nothing it could get wrong."""
from torrentweb.page import dynamic
from torrentweb.page.swap import swap, swap_edits

PAGE = (b'<!doctype html><html><head><title>t</title></head><body>'
        b'<img src="/a.png"><script>var s = \'<img src="/b.png">\';</script><img src="/b.png">'
        b'<picture><source srcset="/c.png"><img src="/c.png"></picture></body></html>')


def test_the_edits_are_the_swap_of_elements_that_occur_once():
    edits = swap_edits(PAGE, "/p.php", ["/a.png", "/b.png", "/c.png"])
    originals = [a for a, _ in edits]
    assert originals == [b'<img src="/a.png">',
                         b'<picture><source srcset="/c.png"><img src="/c.png"></picture>']
    out = PAGE
    for a, b in edits:
        out = out.replace(a, b)
    full = swap(PAGE, "/p.php", ["/a.png", "/c.png"])     # what the static filter does with them
    assert out == full


def test_a_page_whose_head_cannot_be_found_gets_no_instructions():
    assert dynamic.page_file(b"\x00\x01binary", b"<link>", [], "s") is None
    assert dynamic.page_file(b"<!--" + b"x" * 5000 + b"--><head>", b"<link>", [], "s") is None
    got = dynamic.page_file(PAGE, b'<link rel="torrent">', [], "0123456789abcdef")
    assert got.startswith(b'return {v=1,prefix="<!doctype html><html><head>",head="<link rel=\\034torrent\\034>"')


def test_lua_strings_escape_every_byte_that_is_not_plain_ascii():
    assert dynamic.lua_string(b'a"\\\n\x00\xff]]') == '"a\\034\\092\\010\\000\\255]]"'


def test_file_names_match_apaches_sha1_of_path_and_query():
    # printf '/p.html?' | sha1sum (ap_expr: sha1(%{REQUEST_URI} . '?' . %{QUERY_STRING}))
    assert dynamic.file_name("/p.html") == "7567ce10186b031f5fa07b7258d841cf60f465db"
    assert dynamic.valid_name(dynamic.file_name("/x", "a=1")) and not dynamic.valid_name("../x")
