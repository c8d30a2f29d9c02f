"""bench/browser.py --net: the origin and one Chromium visitor on emulated links (smoke size)."""
import os
import re
import subprocess

import pytest

from support.scripts import script_module


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_a_cold_page_over_a_home_link_is_shown_and_then_seeded(capsys):
    """One run of the cold scenario with Chromium in its own namespace: both pages show their
    images, the tab seeds all the bundle's pieces afterwards, and nothing of the network is left."""
    with script_module("bench/browser.py", "browser_bench") as browser:
        assert browser.main(["--net", "home", "--only", "cold", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "--net home" in out
    assert "afterwards the tab is seeding in 1 of 1 runs" in out, out
    seeded = re.search(r"\(median\) (\d+) of the bundle's (\d+)", out)
    assert seeded and seeded[1] == seeded[2] and int(seeded[1]) > 1, out    # every piece, from the cache
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [line for line in listed.splitlines() if line.startswith(f"twn{os.getpid()}-")]


def test_net_refuses_the_capped_scenario(capsys):
    with script_module("bench/browser.py", "browser_bench") as browser, pytest.raises(SystemExit):
        browser.main(["--net", "home", "--only", "capped"])
    assert "--net: the origin's link is its cap" in capsys.readouterr().err
