"""The systemd unit: systemd itself accepts it, its hardening scores low exposure, and what it
promises (user, paths, reload) matches the rest of the project."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from torrentweb import config as tw_config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "conf" / "torrentweb-seeder.service"
SYSUSERS = ROOT / "conf" / "torrentweb.sysusers.conf"
INSTALLED_CLI = "/opt/torrentweb/.venv/bin/torrentweb"
LOCAL_CLI = ROOT / ".venv" / "bin" / "torrentweb"
MAX_EXPOSURE = 3.0

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed (apt-get install systemd)")


def directives(text: str) -> dict:
    """Key -> list of values, in order (systemd allows a key several times)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def local_copy(tmp_path, text=None) -> Path:
    """The unit with ExecStart pointing at this checkout's CLI (verify wants the binary to exist)."""
    text = UNIT.read_text() if text is None else text
    path = tmp_path / UNIT.name
    path.write_text(text.replace(INSTALLED_CLI, str(LOCAL_CLI)))
    return path


def verify(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True,
                          timeout=60)


@needs_analyze
def test_systemd_analyze_verify_accepts_the_unit_without_a_single_warning(tmp_path):
    assert LOCAL_CLI.exists(), f"{LOCAL_CLI} is missing: run `make venv`"
    result = verify(local_copy(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@needs_analyze
def test_verify_reports_a_misspelt_hardening_key(tmp_path):
    """The test above could not fail if verify ignored mistakes: it does not."""
    broken = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    result = verify(local_copy(tmp_path, broken))
    assert "Unknown key 'ProtectSytem' in section [Service]" in result.stderr


@needs_analyze
def test_security_exposure_is_low(tmp_path):
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                             str(local_copy(tmp_path))], capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr and result.returncode != 0:
        pytest.skip(f"this systemd-analyze has no offline security review: {result.stderr.strip()}")
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert m, result.stdout + result.stderr
    exposure, verdict = float(m.group(1)), m.group(2)
    print(f"systemd-analyze security exposure: {exposure} {verdict}")
    assert exposure <= MAX_EXPOSURE and verdict == "OK", m.group(0)


def test_the_unit_promises_what_the_daemon_and_apache_need():
    d = directives(UNIT.read_text())
    assert d["Type"] == ["notify"]
    assert d["ExecStart"] == [f"{INSTALLED_CLI} seeder -c /etc/torrentweb/torrentweb.yaml"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["User"] == ["torrentweb"] and d["Group"] == ["www-data"]
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["yes"]
    assert d["CapabilityBoundingSet"] == [""]
    # The default state_dir is the StateDirectory systemd creates: the only writable path,
    # group-writable so Apache's filter (www-data) can use the SQLite WAL files.
    assert tw_config.Config.__dataclass_fields__["state_dir"].default == \
        Path("/var/lib") / d["StateDirectory"][0]
    assert d["StateDirectoryMode"] == ["0770"] and d["UMask"] == ["0007"]
    assert "ReadWritePaths" not in d
    assert int(d["WatchdogSec"][0].rstrip("s")) > 0


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers is not installed")
def test_sysusers_creates_the_torrentweb_user_in_group_www_data(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "group").write_text("www-data:x:33:\n")
    (tmp_path / "etc" / "passwd").write_text("")
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)], check=True,
                   capture_output=True, timeout=60)
    user = [line.split(":") for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
            if line.startswith("torrentweb:")]
    assert len(user) == 1
    assert user[0][3] == "33" and user[0][5] == "/var/lib/torrentweb" \
        and user[0][6] == "/usr/sbin/nologin"


def test_sd_notify_never_blocks_the_daemon_when_nobody_reads(tmp_path):
    """Regression: with a full $NOTIFY_SOCKET queue (a manager that stopped reading, a test
    helper that only waits for READY=1), sendto blocked and froze the daemon's event loop."""
    import socket
    import threading

    from torrentweb.seeder.sdnotify import Notifier
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as reader:
        reader.bind(path)
        notifier = Notifier(path)
        done = threading.Event()

        def flood():
            for i in range(5000):         # far more than a unix datagram queue holds
                notifier.status(f"hashing: {i} files")
            done.set()
        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        assert done.wait(30), "Notifier.send blocked on a full notify socket"
        thread.join()
        assert reader.recv(4096) == b"STATUS=hashing: 0 files"
