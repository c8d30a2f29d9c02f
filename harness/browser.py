"""Headless Debian Chromium driven by Playwright, with a fresh isolated context per test.

One browser per test module (starting Chromium costs ~1 s), one context per test: a context
has its own cookies, cache, localStorage and OPFS, so WebTorrent cannot complete a download
from a previous test's storage (see ../shared/notes/webtorrent-interop.md).

    from harness.browser import chromium, webtorrent_fetch

    @pytest.fixture(scope="module")
    def browser():
        with chromium() as b:
            yield b

    def test_x(browser):
        with browser.context() as ctx:
            page = ctx.new_page()
            ...
            got = webtorrent_fetch(ctx, torrent_bytes)        # bundle + our tracker + a seeder
            assert got.sha256 == hashlib.sha256(data).hexdigest()

Never `playwright install`: the browser is Debian's /usr/bin/chromium.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
BUNDLE_DIR = ROOT / "loader" / "node_modules" / "webtorrent" / "dist"
FETCH_PAGE = Path(__file__).with_name("webtorrent_fetch.html")

# Flags that work as root in this offline sandbox; the profile dir is Playwright's fresh temp dir.
FLAGS = (
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
    # host ICE candidates as plain IPs; the routed harness page may reach the loopback tracker
    # (one --disable-features flag: a second one would replace the first)
    "--disable-features=WebRtcHideLocalIpsWithMdns,LocalNetworkAccessChecks",
    "--autoplay-policy=no-user-gesture-required",       # <video autoplay muted> in tests
)

# A made-up origin the harness page is served on through page routing: no server, no port,
# and *.localhost is a secure context (OPFS, crypto.subtle) for Chromium.
HARNESS_ORIGIN = "http://torrentweb-harness.localhost"


class BrowserMissing(RuntimeError):
    """Chromium or the webtorrent bundle is not installed."""


def _check_installed():
    if not os.access(CHROMIUM, os.X_OK):
        raise BrowserMissing(f"{CHROMIUM} not found: run scripts/install-deps (apt package chromium)")
    if not (BUNDLE_DIR / "webtorrent.min.js").is_file():
        raise BrowserMissing(f"{BUNDLE_DIR}/webtorrent.min.js not found: run `make npm`")


class Browser:
    """A running Chromium. `context()` gives a fresh isolated context, closed on exit."""

    def __init__(self, browser, tmp: Path):
        self._browser = browser
        self.tmp = tmp
        self.version = browser.version

    @contextlib.contextmanager
    def context(self, *, javascript=True, save_data=False, local_storage=None, **options):
        """A new context. save_data sets navigator.connection.saveData; local_storage is a
        {origin: {key: value}} dict written before any page script runs."""
        ctx = self._browser.new_context(java_script_enabled=javascript, service_workers="allow",
                                        **options)
        try:
            if save_data:
                ctx.add_init_script(
                    "Object.defineProperty(navigator.connection, 'saveData', {get: () => true});")
            for origin, items in (local_storage or {}).items():
                ctx.add_init_script(
                    f"if (location.origin === {json.dumps(origin)}) {{"
                    f" for (const [k, v] of Object.entries({json.dumps(items)}))"
                    " localStorage.setItem(k, v); }")
            yield ctx
        finally:
            ctx.close()

    def close(self):
        self._browser.close()


@contextlib.contextmanager
def chromium(extra_args=()):
    """Start Debian's Chromium headless; stop it (and its driver) on exit."""
    with chromiums([None], extra_args) as [browser]:
        yield browser


@contextlib.contextmanager
def chromiums(netns, extra_args=()):
    """One headless Chromium per entry of `netns`: None, or a network namespace of bench/net.py
    the browser runs in (through `ip netns exec`; root), so that each is a host of its own on an
    emulated network. One Playwright driver starts them all: its sync API allows one per thread."""
    _check_installed()
    tmp = Path(tempfile.mkdtemp(prefix="torrentweb-chromium-"))
    try:
        with sync_playwright() as pw, contextlib.ExitStack() as stack:
            browsers = []
            for i, ns in enumerate(netns):
                executable = CHROMIUM
                if ns:
                    executable = tmp / f"chromium-{i}"
                    # ip netns exec: iproute2 finds the namespace wherever it keeps them
                    executable.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
                    executable.chmod(0o755)
                browser = pw.chromium.launch(executable_path=str(executable), headless=True,
                                             args=[*FLAGS, *extra_args])
                stack.callback(browser.close)
                browsers.append(Browser(browser, tmp))
            yield browsers
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- a bare WebTorrent download, for tests of the tracker and the seeder -----------------------

@dataclasses.dataclass(frozen=True)
class Fetched:
    """What a page with only the webtorrent bundle got from the swarm."""
    sha256: str          # of the torrent's first file (hex)
    length: int
    name: str
    peers: int           # wires open when the download finished
    web_seed_bytes: int  # bytes that came from web seeds (0 when none were used)
    log: tuple           # the page's console lines, for failure messages


class FetchFailed(AssertionError):
    """The page did not finish the download; the message carries the page's log."""


def serve_harness(ctx):
    """Route HARNESS_ORIGIN to the fetch page and the installed webtorrent bundle."""
    def handle(route):
        path = route.request.url[len(HARNESS_ORIGIN):].split("?")[0]
        # body=, not path=: Playwright reads a path in an executor thread that outlives the test
        if path in ("/", "/index.html"):
            return route.fulfill(body=FETCH_PAGE.read_bytes(), content_type="text/html")
        name = path.rsplit("/", 1)[-1]
        if path.startswith("/dist/") and (BUNDLE_DIR / name).is_file():
            return route.fulfill(body=(BUNDLE_DIR / name).read_bytes(), content_type="text/javascript")
        return route.fulfill(status=404, body="not found")
    ctx.route(f"{HARNESS_ORIGIN}/**", handle)


def webtorrent_fetch(ctx, torrent: bytes, *, timeout: float = 60.0, announce=(),
                     web_seeds: bool = True, page=None) -> Fetched:
    """Open the harness page in `ctx` and download `torrent` (the .torrent file's bytes) with
    WebTorrent in the browser; return the first file's SHA-256. `announce` adds trackers;
    web_seeds=False drops the torrent's url-list so the bytes must come from peers."""
    serve_harness(ctx)
    page = page or ctx.new_page()
    log = []
    page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    page.goto(f"{HARNESS_ORIGIN}/")
    try:
        out = page.evaluate("([t, opts]) => window.fetchTorrent(t, opts)", [
            base64.b64encode(torrent).decode(),
            {"announce": list(announce), "webSeeds": web_seeds, "timeoutMs": int(timeout * 1000)},
        ])
    except Exception as e:   # Playwright's Error: the page's rejection, with our log for context
        raise FetchFailed(f"webtorrent download failed: {e}\npage log:\n" + "\n".join(log)) from None
    return Fetched(out["sha256"], out["length"], out["name"], out["peers"],
                   out["webSeedBytes"], tuple(log))


def shown_images(page, selector: str = "main img") -> list[tuple[str, int]]:
    """(SHA-256 of the bytes it shows, naturalWidth) of each image, fetched back from its
    currentSrc (a blob: URL when the loader filled it)."""
    return [tuple(x) for x in page.evaluate("""async (selector) => {
      const out = []
      for (const img of document.querySelectorAll(selector)) {
        const buf = await (await fetch(img.currentSrc)).arrayBuffer()
        out.push([[...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
          .map(b => b.toString(16).padStart(2, '0')).join(''), img.naturalWidth])
      }
      return out
    }""", selector)]


def open_swapped(ctx, url: str, swapped: int, log: list, timeout: float = 60.0):
    """A new tab at url, a page with one <link rel="torrent">, once the loader has shown its
    `swapped` elements; the tab's console goes into log."""
    from .processes import wait_for
    page = ctx.new_page()
    page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
    page.goto(url)
    assert page.locator('link[rel="torrent"]').count() == 1, page.content()
    wait_for(lambda: page.locator("[data-torrent-state]").count() == swapped, timeout,
             interval=0.2, what=f"the swapped elements shown; page log: {log}")
    return page
