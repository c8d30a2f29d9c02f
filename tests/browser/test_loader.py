"""The loader in headless Chromium against a real site: Apache, the daemon's libtorrent seeder
and its WebSocket tracker. What the visitor sees (the bytes shown) and what the origin served."""
from __future__ import annotations

import pytest

from conftest import IMAGES, VIDEO
from support.processes import wait_for

pytestmark = pytest.mark.slow

SHOWN = """async () => {
  const out = {}
  for (const img of document.querySelectorAll('body img')) {
    if (!img.complete || img.naturalWidth <= 1) continue
    const buf = await (await fetch(img.currentSrc)).arrayBuffer()
    const hex = [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
      .map(b => b.toString(16).padStart(2, '0')).join('')
    out[img.alt] = { sha256: hex, via: img.dataset.torrentState || 'plain', width: img.naturalWidth }
  }
  return out
}"""


def shown_images(page, count, timeout=30):
    """{alt: {sha256, via, width}} once `count` images are decoded on the page."""
    return wait_for(lambda: (lambda s: s if len(s) >= count else None)(page.evaluate(SHOWN)),
                    timeout, interval=0.2, what=f"{count} images shown")


def open_page(ctx, url, log):
    page = ctx.new_page()
    page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    page.goto(url)
    return page


def test_images_come_from_the_libtorrent_seeder_not_the_origin(browser, loader_site):
    url = loader_site.write_page("swarm.html", IMAGES)
    mark = loader_site.log_mark()
    log = []
    with browser.context() as ctx:
        page = open_page(ctx, url, log)
        shown = shown_images(page, len(IMAGES))
        assert {alt: s["sha256"] for alt, s in shown.items()} == \
            {rel: loader_site.sha256(rel) for rel in IMAGES}, log
        assert {s["via"] for s in shown.values()} == {"swarm"}, (shown, log)
    for rel in IMAGES:
        assert loader_site.requests_for(rel, mark) == [], loader_site.apache.access_log_lines()[mark:]
