"""bench/hashing.py's own parts, without running the benchmark: percentiles, the random files,
RSS from /proc, the log tail, and the RESULTS.md section that must leave others' sections alone."""
import subprocess
import sys
from pathlib import Path

import pytest

from support.scripts import script_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    with script_module("bench/hashing.py", "bench_hashing") as module:
        yield module


def test_nearest_rank_percentiles(bench):
    assert bench.percentile([3, 1, 2, 5, 4], 50) == 3
    assert bench.percentile([3, 1, 2, 5, 4], 95) == 5
    assert bench.percentile(range(1, 101), 95) == 95
    with pytest.raises(bench.BenchError, match="no values"):
        bench.percentile([], 50)


def test_random_files_have_the_size_asked_and_differ_by_seed_and_chunk(bench, tmp_path):
    a = bench.write_random(tmp_path / "a", 10 * 1024 * 1024 + 7, seed=1, chunk=1024 * 1024)
    b = bench.write_random(tmp_path / "b", 10 * 1024 * 1024 + 7, seed=2, chunk=1024 * 1024)
    assert a.stat().st_size == b.stat().st_size == 10 * 1024 * 1024 + 7
    data = a.read_bytes()
    assert data != b.read_bytes()
    chunks = {data[i:i + 1024 * 1024] for i in range(0, 10 * 1024 * 1024, 1024 * 1024)}
    assert len(chunks) == 10             # no two pieces alike: nothing for dedup to shortcut


def test_rss_sampler_sees_a_child_grow_to_its_peak(bench):
    child = subprocess.Popen([sys.executable, "-c",
                              "import time; b = bytearray(80 * 2**20); b[::4096] = b'x' * len(b[::4096]);"
                              "time.sleep(0.5)"])
    sampler = bench.RssSampler(child.pid, interval=0.01)
    child.wait(30)
    peak = sampler.stop()
    assert 80 * 1024 <= peak < 200 * 1024, peak
    with pytest.raises(FileNotFoundError):
        bench.proc_status_kib(child.pid, "VmRSS")


def test_log_tail_returns_each_match_once_and_names_what_never_came(bench, tmp_path):
    log = tmp_path / "daemon.log"
    log.write_text("x published a.bin 0123\n")
    tail = bench.LogTail(log)
    assert tail.wait(r"published (\S+)", 1).group(1) == "a.bin"
    with open(log, "a") as f:
        f.write("y published b.bin 4567\n")
    assert tail.wait(r"published (\S+)", 1).group(1) == "b.bin"
    with pytest.raises(bench.BenchError) as e:
        tail.wait(r"published (\S+)", 0.05)
    assert str(e.value) == f"no 'published (\\\\S+)' in {log} after 0 s"


def test_results_section_replaced_in_place_and_others_kept(bench):
    other = "# Benchmark results\n\n## Flash crowd\n\nfigures\n"
    once = bench.replace_section(other, "## Hashing\nv1\n")
    assert once.startswith(other) and "v1" in once
    twice = bench.replace_section(once + "\n## Tracker\nmore\n", "## Hashing\nv2\n")
    assert "v1" not in twice and "v2" in twice
    assert twice.index("## Flash crowd") < twice.index("v2") < twice.index("## Tracker")
    assert bench.replace_section("", "## Hashing\n").startswith("# Benchmark results\n")
