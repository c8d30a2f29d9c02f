#!/usr/bin/env python3
"""Generate the demo site's images and video, deterministically (same bytes on every run).

    .venv/bin/python demo/make-assets.py                 # regenerate demo/site/ (committed, ~2 MB)
    .venv/bin/python demo/make-assets.py --flashcrowd DIR [--size 8MiB]
                                                         # a bigger page for bench/flashcrowd.py

Images are fractal landscapes drawn with numpy and written with Pillow; the video is rendered by
ffmpeg (Debian's `ffmpeg` package) from its built-in `mandelbrot` source, encoded VP9 in WebM with
bit-exact flags. Pillow, numpy and ffmpeg are needed only to regenerate, never to run the demo.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SITE = HERE / "site"
MIB = 1024 * 1024


class AssetError(Exception):
    """Something the operator must fix before the assets can be made (a missing tool, a bad size)."""


@dataclass(frozen=True)
class Picture:
    """One generated image: file name, size in pixels, seed of its landscape, caption."""
    name: str
    width: int
    height: int
    seed: int
    caption: str
    quality: int = 88
    grain: float = 0.03


DEMO_PICTURES = (
    Picture("img/dawn.jpg", 1600, 1000, 1, "Dawn over generated hills"),
    Picture("img/dusk.jpg", 1600, 1000, 2, "Dusk, the same generator, another seed"),
    Picture("img/highlands.jpg", 1280, 800, 3, "Highlands"),
    Picture("img/thumb.png", 160, 100, 4, "A thumbnail under 64 KiB: Apache serves it, no torrent"),
)
DEMO_VIDEO = "video/mandelbrot.webm"
PALETTES = (
    ((0.05, 0.10, 0.30), (0.95, 0.55, 0.25), (0.98, 0.92, 0.75)),
    ((0.10, 0.05, 0.20), (0.75, 0.25, 0.35), (0.99, 0.80, 0.45)),
    ((0.05, 0.20, 0.10), (0.35, 0.55, 0.30), (0.90, 0.95, 0.85)),
    ((0.15, 0.15, 0.25), (0.40, 0.45, 0.70), (0.90, 0.90, 1.00)),
)


def fractal_noise(rng: np.random.Generator, width: int, height: int, octaves: int = 7) -> np.ndarray:
    """Sum of bilinearly upsampled random grids, normalised to [0, 1]."""
    out = np.zeros((height, width))
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        grid = rng.random((cells + 1, cells + 1))
        ys, xs = np.linspace(0, cells, height), np.linspace(0, cells, width)
        y0, x0 = np.minimum(ys.astype(int), cells - 1), np.minimum(xs.astype(int), cells - 1)
        fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
        top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
        bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
        out += (top * (1 - fy) + bottom * fy) / 2 ** octave
    return (out - out.min()) / (out.max() - out.min())


def landscape(picture: Picture) -> Image.Image:
    """Sky gradient above a ridge line from 1-D noise, terrain and sky textured by 2-D noise."""
    rng = np.random.default_rng(picture.seed)
    w, h = picture.width, picture.height
    low, mid, high = (np.array(c) for c in PALETTES[picture.seed % len(PALETTES)])
    texture = fractal_noise(rng, w, h, octaves=9)
    ridge = (0.45 + 0.3 * fractal_noise(rng, w, 2, octaves=6)[0]) * h
    rows = np.arange(h)[:, None]
    sky_t = (rows / h) * np.ones((1, w))
    sky = high[None, None, :] * (1 - sky_t[..., None]) + mid[None, None, :] * sky_t[..., None]
    sky = sky * (0.85 + 0.15 * texture[..., None])
    depth = np.clip((rows - ridge[None, :]) / h * 2.5, 0, 1)
    ground = mid[None, None, :] * (1 - depth[..., None]) + low[None, None, :] * depth[..., None]
    ground = ground * (0.6 + 0.4 * texture[..., None])
    pixels = np.where((rows < ridge[None, :])[..., None], sky, ground)
    pixels = pixels + rng.normal(0, picture.grain, (h, w, 1))       # film grain: photo-like size
    return Image.fromarray(np.clip(pixels * 255, 0, 255).astype(np.uint8), "RGB")


def write_picture(picture: Picture, root: Path) -> Path:
    path = root / picture.name
    path.parent.mkdir(parents=True, exist_ok=True)
    image = landscape(picture)
    if path.suffix == ".png":
        image.save(path, "PNG", optimize=True)
    else:
        image.save(path, "JPEG", quality=picture.quality, optimize=True, progressive=True)
    return path


def write_video(path: Path, seconds: int = 6, size: str = "640x360", bitrate: str = "900k") -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        raise AssetError("ffmpeg is needed to render the demo video: apt-get install ffmpeg")
    path.parent.mkdir(parents=True, exist_ok=True)
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"mandelbrot=size={size}:rate=24",
            "-t", str(seconds), "-an", "-c:v", "libvpx-vp9", "-b:v", bitrate, "-deadline", "good",
            "-cpu-used", "4", "-threads", "1", "-row-mt", "0", "-pix_fmt", "yuv420p",
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssetError(f"ffmpeg failed rendering {path}: {result.stderr.strip()}")
    return path


# What the visitor is seeing, in the page's own words: hot or cold (README "Hot and cold pages").
INTRO = """  <p>The images and the video on this page are seeded by torrentweb. The origin decides how
  this page reaches you. While it is idle, the page is <b>cold</b>: your browser loads everything
  by plain HTTP at full speed, then seeds what it loaded to the next visitors. When a crowd
  comes, the page turns <b>hot</b>: browsers take the images from each other over WebRTC, and
  from this server (the web seed) only when no peer has them.
  Watch it on <a href="/.torrentweb/status">/.torrentweb/status</a> (each page's state, and the
  origin's bytes over the last hour); <code>demo/run.py --crowd 20</code> brings a crowd.</p>
  <p id="tw-state"><b>What you are seeing:</b> no script ran, so everything came by plain HTTP.</p>
  <script>
    // The demo's own caption of window.torrentweb (the loader's state); not part of torrentweb.
    setInterval(function () {
      var t = window.torrentweb, out = document.getElementById('tw-state')
      if (!t) return
      var via = (t.elements || []).reduce(function (n, e) { n[e.via] = (n[e.via] || 0) + 1; return n }, {})
      var text = t.elements && t.elements.length
        ? 'this page is hot: ' + (via.swarm || 0) + ' files from other visitors, ' + (via.webseed || 0) +
          ' from the web seed, ' + (via.http || 0) + ' by plain HTTP'
        : 'this page is cold: the images came by plain HTTP' + (t.seeding ? '; your tab now seeds them' : '')
      out.innerHTML = '<b>What you are seeing:</b> ' + text + ' (loader state: ' + t.state + ').'
    }, 500)
  </script>
"""


def page(title: str, pictures, video: str | None) -> str:
    """The HTML: plain markup; Apache's filter adds <link rel="torrent"> and the loader."""
    figures = "\n".join(
        f'    <figure><img src="{html.escape(p.name)}" width="{p.width // 2}" height="{p.height // 2}"'
        f' alt="{html.escape(p.caption)}"><figcaption>{html.escape(p.caption)}</figcaption></figure>'
        for p in pictures)
    clip = (f'    <figure><video src="{video}" controls muted loop playsinline width="640" height="360">'
            f'</video><figcaption>Six seconds of Mandelbrot, VP9</figcaption></figure>\n') if video else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{html.escape(title)}</title>
  <style>
    body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 860px; margin: 2em auto; padding: 0 1em; }}
    figure {{ margin: 1.5em 0; }} img, video {{ max-width: 100%; height: auto; display: block; }}
    figcaption {{ color: #555; font-size: 0.9em; }}
  </style>
</head>
<body>
  <h1>{html.escape(title)}</h1>
{INTRO}  <main>
{figures}
{clip}  </main>
</body>
</html>
"""


def make_demo(root: Path) -> list[Path]:
    files = [write_picture(p, root) for p in DEMO_PICTURES]
    files.append(write_video(root / DEMO_VIDEO))
    index = root / "index.html"
    index.write_text(page("torrentweb demo", DEMO_PICTURES, DEMO_VIDEO), encoding="utf-8")
    return [index, *files]


def flashcrowd_pictures(total: int, seed: int = 100) -> tuple[Picture, ...]:
    """Enough 1920x1200 landscapes (~0.5-0.8 MiB each at quality 95) to reach `total` bytes;
    `seed`: the first one's (another seed, other pictures: a site of many such pages)."""
    return tuple(Picture(f"img/crowd-{i:02d}.jpg", 1920, 1200, seed + i, f"Crowd picture {i}", quality=95)
                 for i in range(max(1, total // (640 * 1024))))


def make_flashcrowd(root: Path, total: int, seed: int = 100) -> list[Path]:
    """A page whose images total about `total` bytes, for the flash-crowd benchmark."""
    if total < 64 * 1024 or total > 1024 * MIB:
        raise AssetError(f"--size {total} bytes: expected between 64 KiB and 1 GiB")
    pictures, files, written = flashcrowd_pictures(total, seed), [], 0
    for picture in pictures:
        if written >= total:
            break
        path = write_picture(picture, root)
        files.append(path)
        written += path.stat().st_size
    used = pictures[:len(files)]
    (root / "index.html").write_text(page("torrentweb flash crowd", used, None), encoding="utf-8")
    return [root / "index.html", *files]


def parse_size(text: str) -> int:
    units = {"": 1, "KIB": 1024, "MIB": MIB, "GIB": 1024 * MIB}
    number = text.rstrip("KMGiBkmgib")
    unit = text[len(number):].upper()
    if not number.isdigit() or unit not in units:
        raise argparse.ArgumentTypeError(f"expected a size such as 8MiB or 512KiB, got {text!r}")
    return int(number) * units[unit]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SITE, help="where the demo site goes (demo/site)")
    parser.add_argument("--flashcrowd", type=Path, metavar="DIR",
                        help="make the bigger flash-crowd page in DIR instead of the demo site")
    parser.add_argument("--size", type=parse_size, default=8 * MIB, help="flash-crowd total, e.g. 8MiB")
    parser.add_argument("--seed", type=int, default=100, help="flash-crowd: the first picture's seed")
    args = parser.parse_args(argv)
    try:
        if args.flashcrowd:
            files = make_flashcrowd(args.flashcrowd, args.size, args.seed)
            root = args.flashcrowd
        else:
            files = make_demo(args.out)
            root = args.out
    except (AssetError, OSError) as e:
        print(f"make-assets: {e}", file=sys.stderr)
        return 1
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{path.stat().st_size:>10}  {digest}  {path.relative_to(root)}")
    print(f"{sum(p.stat().st_size for p in files):>10}  total in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
