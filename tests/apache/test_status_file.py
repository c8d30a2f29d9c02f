"""status.json through Apache while the daemon replaces it: every answer is one whole file."""
from __future__ import annotations

import http.client
import json
import os
import threading

from harness.apache import http_get
from harness.daemon import daemon_behind_apache
from harness.processes import wait_for

from test_hot_cold import minimal_site


def churn(path, stop: threading.Event):
    """Replace path by rename, as the daemon does every 2 s, but as fast as it goes, its size
    changing each time."""
    i = 0
    while not stop.is_set():
        tmp = path.with_name(f".tmp-churn-{i}")
        tmp.write_text(json.dumps({"i": i, "pad": "x" * (i % 7) * 3000}))
        os.replace(tmp, path)
        i += 1


def test_status_json_is_never_sent_cut_while_it_is_replaced(tmp_path):
    """Apache's own file handler takes the length from its stat of the path and the bytes from
    the file it opens next: a status.json replaced in between went out cut to the old length
    (the demo's test once read one ending in `"egress"`)."""
    site = minimal_site(tmp_path)
    with daemon_behind_apache(site, tmp_path) as (server, daemon):
        path = site.state / "status.json"
        wait_for(path.is_file, 30, what="the daemon's status.json")
        stop = threading.Event()
        writer = threading.Thread(target=churn, args=(path, stop))
        writer.start()
        answers, cut = [], []
        try:
            for _ in range(400):
                try:
                    status, headers, body = http_get(server.port, "/.torrentweb/status.json")
                    answers.append((status, headers.get("content-type")))
                    json.loads(body)
                except (ValueError, http.client.HTTPException) as e:    # cut, or short of its length
                    cut.append(repr(e)[:80])
        finally:
            stop.set()
            writer.join()
    assert set(answers) == {(200, "application/json")} and cut == [], (set(answers), len(cut), cut[:3])
