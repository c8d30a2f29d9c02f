"""The demo site shipped in the repo is what demo/make-assets.py makes, byte for byte, and the page
references only files that exist (a user opening the demo sees no broken image)."""
import hashlib
import re
from pathlib import Path

import pytest

from support.scripts import script_module

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "demo" / "site"


@pytest.fixture(scope="module")
def make_assets():
    with script_module("demo/make-assets.py", "make_assets") as module:
        yield module


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_committed_pictures_and_page_are_regenerated_byte_for_byte(make_assets, tmp_path):
    for picture in make_assets.DEMO_PICTURES:
        fresh = make_assets.write_picture(picture, tmp_path)
        assert sha256(fresh) == sha256(SITE / picture.name), picture.name
    page = make_assets.page("torrentweb demo", make_assets.DEMO_PICTURES, make_assets.DEMO_VIDEO)
    assert page == (SITE / "index.html").read_text(encoding="utf-8")


def test_every_asset_the_page_references_exists_and_the_site_stays_small():
    html = (SITE / "index.html").read_text(encoding="utf-8")
    sources = re.findall(r'<(?:img|video)[^>]* src="([^"]+)"', html)
    assert len(sources) == 5
    for src in sources:
        assert (SITE / src).is_file(), src
    total = sum(p.stat().st_size for p in SITE.rglob("*") if p.is_file())
    assert 1_000_000 < total < 3_000_000, total
    # Three images and the video are above the example rules' 64 KiB floor; the thumbnail is not.
    big = sorted(src for src in sources if (SITE / src).stat().st_size >= 64 * 1024)
    assert big == ["img/dawn.jpg", "img/dusk.jpg", "img/highlands.jpg", "video/mandelbrot.webm"]
    assert (SITE / "video/mandelbrot.webm").read_bytes()[:4] == b"\x1a\x45\xdf\xa3"   # EBML/WebM


def test_flashcrowd_size_out_of_range_is_a_clear_error(make_assets, tmp_path, capsys):
    assert make_assets.main(["--flashcrowd", str(tmp_path), "--size", "1KiB"]) == 1
    assert capsys.readouterr().err == \
        "make-assets: --size 1024 bytes: expected between 64 KiB and 1 GiB\n"
