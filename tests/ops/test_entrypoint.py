"""docker/entrypoint.sh for real, without Docker: it validates the YAML, renders the Apache
snippet, runs the real seeder (as www-data here, torrentweb in the image) beside a real httpd,
and stops both when asked or when one of them dies."""
import grp
import hashlib
import os
import pwd
import re
import shutil
import signal
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from harness.apache import grant_web_access
from harness.daemon import make_site
from harness.ports import free_port
from harness.processes import Process, wait_for
from torrentweb import config as tw_config
from torrentweb.apache.standalone import standalone_config

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
VENV = Path(sys.executable).parent.parent
DEMO = ROOT / "demo" / "site"


def started_pids(proc: Process) -> tuple[int, int]:
    m = wait_for(lambda: re.search(r"seeder pid (\d+), httpd pid (\d+)", proc.log()), 30,
                 what="the entrypoint starting both processes")
    return int(m.group(1)), int(m.group(2))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def www_tmp():
    """A tmp dir that www-data can enter. Not pytest's tmp_path: every pytest session on the
    machine resets /tmp/pytest-of-root to 0700, so www-data loses access to it mid-test."""
    path = Path(tempfile.mkdtemp(prefix="tw-ops-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def container(www_tmp):
    """The entrypoint with a loopback port, a tmp docroot holding the demo site, and its own
    standalone httpd.conf that includes what the entrypoint renders (the image uses apache2ctl)."""
    tmp_path = www_tmp
    port = free_port()
    site = make_site(tmp_path / "site", base_url=f"http://127.0.0.1:{port}/")
    shutil.copytree(DEMO, site.docroot, dirs_exist_ok=True)
    cfg = tw_config.load(site.config_path)
    run_dir, server_root = tmp_path / "run", tmp_path / "httpd"
    for d in (server_root / "logs", server_root / "run"):
        d.mkdir(parents=True)
    grant_web_access(cfg, server_root)
    files = standalone_config(cfg, server_root, port,
                              snippet=f'Include "{run_dir}/apache/torrentweb.conf"\n')
    for name, text in files.items():
        (server_root / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APACHE", "NOTIFY"))}
    env.update(TORRENTWEB_CONFIG=str(site.config_path), TORRENTWEB_VENV=str(VENV),
               TORRENTWEB_RUN_DIR=str(run_dir), TORRENTWEB_USER="www-data",
               TORRENTWEB_HTTPD=f"/usr/sbin/apache2 -f {server_root}/httpd.conf -DFOREGROUND",
               LANG="C.UTF-8", PYTHONUNBUFFERED="1")
    procs = []

    def start():
        proc = Process(["/bin/bash", str(ENTRYPOINT)], tmp_path / "entrypoint.log", env=env)
        procs.append(proc)
        return proc
    yield site, port, start
    for proc in procs:
        proc.stop()


def test_serves_the_demo_and_publishes_it_then_stops_both_on_sigterm(container):
    site, port, start = container
    proc = start()
    seeder, httpd = started_pids(proc)
    url = f"http://127.0.0.1:{port}/"
    wait_for(lambda: "published video/mandelbrot.webm " in proc.log(), 60,
             what=f"the seeder publishing the video:\n{proc.log()}")
    wait_for(lambda: _get(url + "img/dawn.jpg"), 30, what="httpd answering")
    assert hashlib.sha256(_get(url + "img/dawn.jpg")).digest() == \
        hashlib.sha256((DEMO / "img" / "dawn.jpg").read_bytes()).digest()
    # The rendered snippet is in force: Apache serves the seeder's .torrent under its prefix.
    torrent = _get(url + ".torrentweb/files/video/mandelbrot.webm.torrent")
    assert torrent == site.torrent("video/mandelbrot.webm") and b"url-list" in torrent
    assert "<title>torrentweb demo</title>" in _get(url).decode()
    # The state directory is the seeder's, shared with Apache: group www-data, setgid, group rwx.
    st = os.stat(site.state)
    assert (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name) == ("www-data",) * 2
    assert st.st_mode & 0o2070 == 0o2070
    os.kill(proc.pid, signal.SIGTERM)          # what tini forwards on `docker stop`
    assert proc.proc.wait(30) == 0, proc.log()
    assert gone(seeder) and gone(httpd)
    assert "torrentweb-entrypoint: stopped" in proc.log()


def test_when_the_seeder_dies_httpd_is_stopped_and_the_status_is_passed_on(container):
    site, port, start = container
    proc = start()
    seeder, httpd = started_pids(proc)
    wait_for(lambda: "ready: seeding" in proc.log(), 60, what=f"the seeder ready:\n{proc.log()}")
    os.kill(seeder, signal.SIGKILL)
    assert proc.proc.wait(30) == 128 + signal.SIGKILL, proc.log()
    assert gone(httpd)
    assert f"torrentweb-entrypoint: the seeder exited with status {128 + signal.SIGKILL}: " \
           "stopping httpd" in proc.log()


def test_a_bad_yaml_stops_the_container_before_anything_starts(container):
    site, port, start = container
    site.config_path.write_text(site.config_path.read_text() + "seeeder: {}\n")
    proc = start()
    assert proc.proc.wait(30) == 2
    line = proc.log().strip().splitlines()[-1]
    assert re.fullmatch(rf"torrentweb: {re.escape(str(site.config_path))}:\d+:1: seeeder: "
                        r"unknown key; expected one of .*", line), proc.log()
    assert "seeder pid" not in proc.log()


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read()
    except OSError:
        return None
