"""What the daemon hands the Lua and PHP filters for a dynamic page (torrentweb.page.dynamic,
swap_edits): literal work only, and nothing it could get wrong."""
import json
import subprocess
from pathlib import Path

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
    assert got.startswith(b'return {v=2,prefix="<!doctype html><html><head>",head="<link rel=\\x22torrent\\x22>"')


def test_lua_strings_escape_every_byte_that_is_not_plain_ascii():
    assert dynamic.lua_string(b'a"\\\n\x00\xff]]') == '"a\\x22\\x5c\\x0a\\x00\\xff]]"'


PHP_FILTER = Path(__file__).resolve().parents[2] / "apache" / "dynamic.php"
READ_BACK = """require $argv[1];
$p = Torrentweb\\Dynamic\\parse(file_get_contents('php://stdin'));
echo json_encode($p === null ? null : array_map('bin2hex', [$p['prefix'], $p['head'], $p['etag'],
                                                          ...array_merge(...$p['edits'])]));"""


def php_reads(data: bytes):
    out = subprocess.run(["php", "-r", READ_BACK, str(PHP_FILTER)], input=data, capture_output=True,
                         check=True, timeout=30).stdout
    got = json.loads(out)
    return got and [bytes.fromhex(h) for h in got]


def test_the_php_filter_reads_back_every_byte_the_daemon_wrote():
    every = bytes(range(256))
    prefix = b"<!doctype html>\r\n<html><head>"
    body = prefix + b"<title>t</title></head><body><img src=\"/a.png\"></body>"
    edits = [(b'<img src="/a.png">', b'<img data-torrent-src="/a.png" \x00\\">'),
             (every, every[::-1])]
    data = dynamic.page_file(body, b"\n<link " + every + b">", edits, "0123456789abcdef")
    assert php_reads(data) == [prefix, b"\n<link " + every + b">", b"0123456789abcdef",
                               *edits[0], *edits[1]]
    assert php_reads(data.replace(b"v=2", b"v=1")) is None     # another version: passes unchanged
    assert php_reads(data[:-20]) is None


def test_file_names_match_apaches_sha1_of_path_and_query():
    # printf '/p.html?' | sha1sum (ap_expr: sha1(%{REQUEST_URI} . '?' . %{QUERY_STRING}))
    assert dynamic.file_name("/p.html") == "7567ce10186b031f5fa07b7258d841cf60f465db"
    assert dynamic.valid_name(dynamic.file_name("/x", "a=1")) and not dynamic.valid_name("../x")
