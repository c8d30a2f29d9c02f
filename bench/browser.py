#!/usr/bin/env python3
"""The browser loader's cost and benefit: time until every image of a page is shown in headless
Chromium, plain HTTP versus the torrentweb page (loader + swap + swarm, or the cold page: links +
loader, plain <img>), same origin, same run.

    .venv/bin/python bench/browser.py [--runs 5] [--tabs 8] [--cap 1MiB] [--only cold]

Origin: the real Apache (with the shipped loader fragment) and the seeder daemon (libtorrent +
WebSocket tracker) on loopback, serving the demo images (demo/site/img, ~1 MB in 3 files); the
torrentweb page links the page bundle the daemon builds for them, as pages through the filter do.
Scenarios, each a fresh Chromium context per tab and the median over --runs:
  uncapped: one tab, loopback speed;
  capped:   --tabs tabs arriving together, the origin's uplink ONE budget of --cap bytes/s
            (Apache behind bench/throttle.py, the seeder's upload_limit = --cap as well);
  cold:     one tab, idle origin, the cold page (what a cold origin serves: the images by plain
            HTTP, the loader after the load event) against the page with torrentweb off; and
            whether the tab then seeds (its state, pieces verified from its HTTP cache).
Also the loader's cost: bytes of script the tab loaded and its JS heap (CDP Runtime.getHeapUsage)
once the images are shown. Prints a table and ratios (torrentweb / plain; < 1 is faster).
"""
from __future__ import annotations

import argparse
import contextlib
import html
import json
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import libtorrent as lt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))      # net, options: also when loaded by path (tests)

import net as netem  # noqa: E402
from options import add_seeder_option  # noqa: E402
from harness.apache import grant_web_access, start_apache  # noqa: E402
from harness.browser import chromium  # noqa: E402
from harness.daemon import make_site, start_daemon  # noqa: E402
from harness.ports import free_port  # noqa: E402
from harness.processes import Process, wait_for  # noqa: E402
from torrentweb import config as twconfig  # noqa: E402
from torrentweb.page import loadertag  # noqa: E402
from torrentweb.naming import seed_name  # noqa: E402
from torrentweb.page.swap import swap  # noqa: E402
from torrentweb.apache.templates import render  # noqa: E402

IMAGES = ("img/dawn.jpg", "img/dusk.jpg", "img/highlands.jpg")
PREFIX = "/.torrentweb/"
# Set in every page before its own scripts: the moment all images are decoded (the swapped
# placeholders are 1x1, so they do not count as shown), taken in the last image's load event
# (a capturing listener), so that script running after it (a cold page's loader) cannot delay
# the reading; the poll is the backstop.
SHOWN_PROBE = """
(() => {
  const check = () => {
    const imgs = [...document.querySelectorAll('body img')].filter(i => !i.closest('noscript'))
    if (!window.__shownAt && imgs.length && imgs.every(i => i.complete && i.naturalWidth > 1)) {
      window.__shownAt = performance.now()
    }
  }
  document.addEventListener('load', check, true)
  const t = setInterval(() => { check(); if (window.__shownAt) clearInterval(t) }, 5)
})()
"""
# A cold tab, once its loader has settled: [state, pieces it seeds from its HTTP cache].
COLD_SEEDS = """(() => { const tw = window.torrentweb
  return !tw || tw.state === 'cold' || tw.state === 'starting' ? null : [tw.state, tw.cached.pieces] })()"""
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>bench</title>
{head}</head><body>
{body}
</body></html>
"""
TORRENTS_CONF = """Alias "{prefix}bundles/" "{state}/bundles/"
<Directory "{state}/bundles">
    Require all granted
    ForceType application/x-bittorrent
</Directory>
# the bundles' web seed, as conf/httpd-torrentweb.conf.in serves it
Alias "{prefix}seed/{seed_name}/" "{docroot}/"
<Location "{prefix}seed/">
    SetHandler None
    SetEnv no-gzip 1
</Location>
"""


class Origin:
    """Daemon + Apache (+ the shared-budget relay when capped) serving both pages."""

    def __init__(self, tmp: Path, cap: int, loader: dict, seeder: dict, cold_tag: str = "head",
                 host=None, port: int | None = None):
        """host: a bench/net.py host to run in (its link is the origin's; everything listens on
        its address); port: the page's port, when the browser must know it in advance."""
        with host.entered() if host else contextlib.nullcontext():
            self._start(tmp, cap, loader, seeder, cold_tag, host.ip if host else "127.0.0.1", port)

    def _start(self, tmp: Path, cap: int, loader: dict, seeder: dict, cold_tag: str, ip: str, port):
        self.tmp = tmp
        self.loader = loader            # overrides of the loader's settings (upload_limit=...)
        self.cold_tag = cold_tag        # where the cold page has the loader's tag (COLD_TAGS)
        apache_port = port if port and not cap else free_port()
        self.relay = None
        front = (port or free_port()) if cap else apache_port
        ws_port = free_port()
        self.site = make_site(tmp, base_url=f"http://{ip}:{front}/")
        self.site.write_config(
            tracker={"websocket": f"{ip}:{ws_port}", "announce": [f"ws://{ip}:{ws_port}/announce"]},
            rules=[{"mimetype": "image/*", "min_size": "64KiB"}],
            seeder={"listen": f"{ip}:{free_port()}", "upload_limit": cap, **seeder})
        for rel in IMAGES:
            self.site.add(rel, (ROOT / "demo" / "site" / rel).read_bytes())
        self.daemon = start_daemon(self.site, tmp / "daemon.log")
        self.apache = None
        try:
            for rel in IMAGES:
                wait_for(lambda: (self.site.state / "torrents" / (rel + ".torrent")).is_file(), 60,
                         what=f"torrent of {rel}")
            cfg = twconfig.load(self.site.config_path)
            grant_web_access(cfg, loadertag.default_loader_dir())
            snippet = render("httpd-torrentweb-loader.conf.in", loadertag.snippet_values(cfg)) + \
                TORRENTS_CONF.format(prefix=PREFIX, state=cfg.state_dir, docroot=cfg.docroot,
                                     seed_name=seed_name(cfg))
            self.apache = start_apache(tmp, cfg, port=apache_port, snippet=snippet,
                                       extra=f"Listen {ip}:{apache_port}" if ip != "127.0.0.1" else "")
            if cap:
                self.relay = Process([sys.executable, str(ROOT / "bench" / "throttle.py"), "--listen",
                                      f"127.0.0.1:{front}", "--to", f"127.0.0.1:{apache_port}",
                                      "--rate", str(cap)], tmp / "relay.log")
                wait_for(lambda: "listening on" in self.relay.log(), 20, what="the throttle relay")
            self.url = f"http://{ip}:{front}/"
            self.write_pages(cfg)
        except BaseException:
            self.stop()
            raise

    def write_pages(self, cfg):
        """The torrentweb page links the page bundle the daemon builds from the plain page's
        images, as the filter does: one torrent, one wire per peer."""
        imgs = "\n".join(f'<img src="/{rel}" alt="{rel}" width="300">' for rel in IMAGES)
        (self.site.docroot / "plain.html").write_text(PAGE.format(head="", body=imgs))
        (self.site.docroot / "plain.html").chmod(0o644)
        info_hash = wait_for(self.page_bundle, 60, what="the page bundle")
        links = f'<link rel="torrent" href="{PREFIX}bundles/{info_hash}/{info_hash}.torrent">\n'
        settings = {**loadertag.parse_settings(loadertag.settings_env(cfg.loader)), **self.loader}
        tag = loadertag.loader_tag(PREFIX, loadertag.default_loader_dir(), settings)
        html = PAGE.format(head=links + tag + "\n", body=imgs).encode()
        hot = PAGE.format(head=links + loadertag.hot(tag) + "\n", body=imgs).encode()   # as the filter does
        (self.site.docroot / "tw.html").write_bytes(swap(hot, "/tw.html", {"/" + r for r in IMAGES}))
        # the same page, nothing swapped; the loader's tag where --cold-tag says
        cold = {"head": PAGE.format(head=links + loadertag.cold(tag) + "\n", body=imgs),   # as the filter does
                "normal": html.decode(),                       # the same tag at normal priority
                "body": PAGE.format(head=links, body=imgs + "\n" + tag),
                "async": html.decode().replace("<script defer ", "<script async "),
                "load": PAGE.format(head=links + after_load(tag), body=imgs),
                "none": PAGE.format(head="", body=imgs)}[self.cold_tag]   # A/A: the noise floor
        (self.site.docroot / "cold.html").write_text(cold)
        self.bundle_pieces = lt.torrent_info(
            (self.site.state / "bundles" / info_hash / f"{info_hash}.torrent").read_bytes()).num_pieces()
        for name in ("plain.html", "tw.html", "cold.html"):
            (self.site.docroot / name).chmod(0o644)

    def page_bundle(self) -> str | None:
        db = self.site.state / "catalogue.sqlite"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            for info_hash, files in c.execute("SELECT info_hash, files FROM bundles"):
                if sorted(json.loads(files)) == sorted(IMAGES):
                    return info_hash
        return None

    def stop(self):
        for part in (self.relay, self.apache):
            if part:
                part.stop()
        self.daemon.stop()


def after_load(tag: str) -> str:
    """An inline script that inserts the loader's <script> (same attributes) on the load event."""
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
    return ("<script>addEventListener('load', function () { var s = document.createElement('script');"
            f" var a = {json.dumps({k: html.unescape(v) for k, v in attrs.items()})};"
            " Object.keys(a).forEach(function (k) { s.setAttribute(k, a[k]) });"
            " document.head.appendChild(s) })</script>\n")


def visit(browser, url: str, tabs: int, timeout: float = 120, cold: bool = False):
    """Open `tabs` fresh contexts on url together; per tab: ms until shown, script bytes, heap;
    cold: also wait for the cold page's loader to settle (timing['seeding'])."""
    contexts, pages, out = [], [], []
    try:
        for _ in range(tabs):
            ctx = browser._browser.new_context()
            ctx.add_init_script(SHOWN_PROBE)
            contexts.append(ctx)
            pages.append(ctx.new_page())
        for page in pages:
            page.goto(url, wait_until="commit")
        for page in pages:
            shown = wait_for(lambda: page.evaluate("window.__shownAt"), timeout, interval=0.02,
                             what=f"images shown at {url}")
            scripts = page.evaluate("""performance.getEntriesByType('resource')
                .filter(e => e.name.endsWith('.js')).reduce((n, e) => n + e.encodedBodySize, 0)""")
            cdp = page.context.new_cdp_session(page)
            cdp.send("HeapProfiler.collectGarbage")
            heap = cdp.send("Runtime.getHeapUsage")["usedSize"]
            timing = page.evaluate("window.torrentweb ? window.torrentweb.timing : {}")
            if cold:
                timing["seeding"] = wait_for(lambda: page.evaluate(COLD_SEEDS), timeout, interval=0.05,
                                             what=f"the cold tab seeding at {url}")
            if "--debug" in sys.argv:
                print(page.evaluate("window.torrentweb && [window.torrentweb.fallbacks, "
                                    "window.torrentweb.elements]"), file=sys.stderr)
            out.append((shown, scripts, heap, timing))
    finally:
        for ctx in contexts:
            ctx.close()
    return out


def scenario(browser, origin: Origin, tabs: int, runs: int, page: str = "tw"):
    """{'plain': [...], page: [...]}: per run, the median over tabs of (ms, script bytes, heap);
    and the loader's own timeline (ms since navigation), per tab."""
    results, timelines = {"plain": [], page: []}, []
    for i in range(runs):
        order = ("plain", page) if i % 2 == 0 else (page, "plain")   # no side always goes first
        for name in order:
            mark = len(origin.apache.access_log_lines())
            per_tab = visit(browser, origin.url + f"{name}.html", tabs,
                            cold=name == "cold" and origin.cold_tag != "none")
            time.sleep(0.3)      # the access log line is written when the response ends
            image_bytes = sum(int(line.split('"')[2].split()[1]) for line in
                              origin.apache.access_log_lines()[mark:] if '"GET /img/' in line)
            results[name].append(tuple(statistics.median(v) for v in list(zip(*per_tab))[:3])
                                 + (image_bytes / tabs,))
            timelines += [t[3] for t in per_tab if t[3]]
            time.sleep(0.5)      # tabs closed: the swarm forgets them before the next run
    return results, timelines


def secure_origins(ip: str, ports) -> list[str]:
    """Chromium flags: the origin's private http:// pages count as secure (real sites are https://;
    WebTorrent needs a secure context), as on loopback."""
    return ["--unsafely-treat-insecure-origin-as-secure=" + ",".join(f"http://{ip}:{p}" for p in ports)]


def size(text: str) -> int:
    return twconfig._size(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tabs", type=int, default=8)
    ap.add_argument("--cap", type=size, default=size("1MiB"), help="origin uplink, bytes/s")
    ap.add_argument("--upload-limit", help="the loader's per-tab upload cap (default: the YAML's)")
    ap.add_argument("--deadline", type=float, help="the loader's deadline, s (default: the YAML's)")
    ap.add_argument("--only", choices=("uncapped", "capped", "cold"), help="run one scenario")
    ap.add_argument("--cold-tag", choices=("head", "normal", "body", "async", "load", "none"), default="head",
                    help="the cold page's loader tag: in <head> as the filter injects it (default, "
                         "fetchpriority=low), normal: the same at normal priority, at the end of <body>, in <head> as <script async>, or inserted on the load "
                         "event by an inline script; none: the plain page itself (A/A, the noise floor)")
    add_seeder_option(ap)
    ap.add_argument("--net", choices=[p for p in netem.PROFILES if p not in ("origin", "lan")],
                    help="root: on bench/net.py's emulated network, the origin on the `origin` link, "
                         "Chromium in a namespace on this profile's link (uncapped and cold: one tab)")
    ap.add_argument("--keep", action="store_true", help="keep the origins' work directories")
    ap.add_argument("--debug", action="store_true", help="print each tab's fallbacks and elements")
    args = ap.parse_args(argv)
    if args.net and args.only == "capped":
        ap.error("--net: the origin's link is its cap; scenarios uncapped and cold (one tab)")
    loader = {"upload-limit": str(size(args.upload_limit))} if args.upload_limit else {}
    if args.deadline is not None:
        loader["deadline"] = str(args.deadline)
    tmp = Path(tempfile.mkdtemp(prefix="torrentweb-bench-browser-"))
    rows, cold_rows, paired = [], [], []
    scenarios = {"uncapped": ("uncapped, 1 tab", 0, 1, "tw"),
                 "capped": (f"capped {args.cap // 1024} KiB/s, {args.tabs} tabs", args.cap, args.tabs, "tw"),
                 "cold": (f"cold page (tag: {args.cold_tag}), idle, 1 tab", 0, 1, "cold")}
    names = [args.only] if args.only else [n for n in scenarios if not (args.net and n == "capped")]
    ports = {name: free_port() for name in names}
    network = (netem.Network([("origin", netem.PROFILES["origin"]), ("visitor", netem.PROFILES[args.net])])
               if args.net else contextlib.nullcontext())
    try:
        with network as net, net["visitor"].entered() if args.net else contextlib.nullcontext(), \
                chromium(secure_origins(net["origin"].ip, ports.values()) if args.net else ()) as browser:
            for name in names:
                label, cap, tabs, page = scenarios[name]
                if args.net:
                    label += f", --net {args.net}"
                origin = Origin(tmp / name, cap, loader, dict(args.seeder), args.cold_tag,
                                host=net["origin"] if args.net else None, port=ports[name])
                try:
                    res, timelines = scenario(browser, origin, tabs, args.runs, page)
                    pieces = origin.bundle_pieces
                finally:
                    origin.stop()
                med = {k: tuple(statistics.median(v) for v in zip(*runs)) for k, runs in res.items()}
                steps = ("start", "bundle", "torrents", "firstWire", "done")
                rows.append((label, med["plain"], med[page], {k: statistics.median(
                    t[k] for t in timelines if k in t) for k in steps if any(k in t for t in timelines)}))
                # each run visits both pages back to back: their ratio is less at the mercy of
                # what else the machine is doing than the ratio of the two medians
                paired.append((label, statistics.median(t[0] / p[0] for p, t in zip(res["plain"], res[page]))))
                seeded = [t["seeding"] for t in timelines if "seeding" in t]
                if seeded:
                    cold_rows.append((label, pieces, seeded))
    finally:
        if args.keep:
            print(f"kept {tmp} (daemon log, Apache logs, state)", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"median of {args.runs} runs; images: {len(IMAGES)} "
          f"({sum((ROOT / 'demo' / 'site' / r).stat().st_size for r in IMAGES) / 1e6:.2f} MB); "
          f"loader settings {loader or 'from the YAML defaults'}")
    print(f"{'scenario':32} {'plain ms':>9} {'tw ms':>9} {'ratio':>6} {'plain js B':>11} {'tw js B':>9}"
          f" {'plain heap':>11} {'tw heap':>9} {'heap ratio':>10} {'origin img B/tab plain':>23} {'tw':>9}")
    for label, plain, tw, _ in rows:
        print(f"{label:32} {plain[0]:9.0f} {tw[0]:9.0f} {tw[0] / plain[0]:6.2f} {plain[1]:11.0f} "
              f"{tw[1]:9.0f} {plain[2] / 1e6:9.2f}MB {tw[2] / 1e6:7.2f}MB {tw[2] / plain[2]:10.2f}"
              f" {plain[3]:23.0f} {tw[3]:9.0f}")
    print("ratio per run (torrentweb / plain, the two visits of one run), median: " +
          ", ".join(f"{label} {ratio:.2f}" for label, ratio in paired))
    print("loader timeline, median ms since navigation start:")
    for label, _, _, steps in rows:
        print(f"  {label}: " + ", ".join(f"{k} {v:.0f}" for k, v in steps.items()))
    for label, pieces, seeded in cold_rows:
        states = sorted({state for state, _ in seeded})
        print(f"{label}: afterwards the tab is {'/'.join(states)} in {len(seeded)} of {len(seeded)} runs, "
              f"pieces seeded from its HTTP cache (median) {statistics.median(n for _, n in seeded):.0f}"
              f" of the bundle's {pieces}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
