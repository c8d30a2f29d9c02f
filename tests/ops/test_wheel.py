"""The package works installed from a wheel, not only from a checkout: a wheel built from a
copy of the sources, installed with its dependencies into a fresh venv made from Debian's
/usr/bin/python3 (as an operator's), runs every command, and what `apache-config` names is
inside that venv."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("torrentweb/conf/httpd-torrentweb.conf.in", "torrentweb/conf/torrentweb.yaml",
           "torrentweb/conf/torrentweb-seeder.service", "torrentweb/apache/handler.wsgi",
           "torrentweb/apache/file.wsgi",
           "torrentweb/apache/status.html", "torrentweb/apache/dynamic.lua",
           "torrentweb/apache/dynamic.php", "torrentweb/loader/src/torrentweb-loader.js",
           "torrentweb/loader/node_modules/webtorrent/dist/webtorrent.min.js")


def run(argv, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kw)
    assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
    return result


def sources(dest: Path) -> Path:
    """What a release tarball holds: the tracked files, plus the loader's npm bundle."""
    files = run(["git", "ls-files"], cwd=ROOT).stdout.split()
    for rel in files:
        if rel.startswith(("tests/", "bench/", "demo/", ".ci/", "docker/")):
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    dist = Path("loader/node_modules/webtorrent/dist")
    shutil.copytree(ROOT / dist, dest / dist)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = sources(tmp / "src")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", tmp / "dist", src])
    (wheel,) = (tmp / "dist").glob("torrentweb-*.whl")
    venv = tmp / "venv"
    run(["/usr/bin/python3", "-m", "venv", venv])
    run([venv / "bin" / "pip", "install", "-q", wheel])
    return wheel, venv, tmp


def test_the_wheel_carries_the_templates_the_handler_and_the_loader(installed):
    wheel, venv, tmp = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [f for f in SHIPPED if f not in names] == []
    assert {n.split("/")[0] for n in names} == {"torrentweb", "torrentweb-0.1.0.dist-info"}   # no harness


def test_every_command_runs_from_the_installed_wheel(installed):
    wheel, venv, tmp = installed
    tw = venv / "bin" / "torrentweb"
    (tmp / "www").mkdir(exist_ok=True)
    config = tmp / "torrentweb.yaml"
    config.write_text("docroot: www\nbase_url: https://example.org/\nstate_dir: state\n"
                      "pages:\n  p2p: always\n")
    where = run([venv / "bin" / "python", "-c", "import torrentweb; print(torrentweb.__file__)"],
                cwd=tmp).stdout.strip()
    assert where.startswith(str(venv)), where                   # not the checkout
    assert run([tw, "check-config", "-c", config], cwd=tmp).stdout == f"{config}: OK\n"
    assert run([tw, "seeder", "--help"], cwd=tmp).stdout.startswith("usage: torrentweb seeder")
    snippet = run([tw, "apache-config", "-c", config], cwd=tmp).stdout
    named = set(re.findall(r'"(/[^"]*)"', snippet)) | set(re.findall(r"(?<=\s)(/\S+\.wsgi)", snippet))
    inside = sorted(p for p in named if p.startswith(str(venv)))
    assert {Path(p).name or Path(p).parent.name for p in inside} >= {"handler.wsgi", "file.wsgi", "status.html"}
    assert any(p.endswith("/loader/node_modules/webtorrent/dist/") for p in inside), inside
    assert [p for p in inside if not Path(p).exists()] == []
