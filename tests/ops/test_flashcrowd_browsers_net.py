"""bench/flashcrowd.py --browsers N --net: each Chromium visitor its own host on its own line."""
import json
import os
import re
import subprocess

import pytest

from support.scripts import script_module


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_two_chromium_visitors_on_their_own_home_lines_show_the_page_from_the_swarm(tmp_path, capsys, monkeypatch):
    """Two tabs, each in its own Chromium inside its own visitor namespace: both show every
    image from the swarm, the origin's log has the page fetched from two visitor addresses
    (not one browser's), and no namespace is left."""
    monkeypatch.setenv("FLASHCROWD_DEBUG", "1")          # keeps the run's directory (the logs)
    with script_module("bench/flashcrowd.py", "flashcrowd_browsers") as flashcrowd:
        assert flashcrowd.main(["--browsers", "2", "--net", "home", "--spread", "0", "--size", "1MiB",
                                "--json", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["net"] == "home" and result["browsers"] == 2
    assert sum(result["via"].values()) == result["via"].get("swarm") > 0, result
    assert result["seeder_bytes"] > 0 and result["limit_s"] > 0, result
    logs = list(tmp_path.glob("run-*/browsers2/origin/httpd/logs/access.log"))
    assert logs, list(tmp_path.rglob("access.log"))
    # the page's GETs: the origin's own checks (loopback, its own address) first, the tabs last
    pages = re.findall(r'^(\S+) "GET / HTTP', logs[0].read_text(), re.M)
    origin = next(ip for ip in pages if ip.startswith("10."))
    tabs = pages[-2:]
    assert len(set(tabs)) == 2 and not {"127.0.0.1", origin} & set(tabs), pages
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [line for line in listed.splitlines() if line.startswith(f"twn{os.getpid()}-")]
