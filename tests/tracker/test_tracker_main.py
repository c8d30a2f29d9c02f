"""`python -m torrentweb.seeder.tracker`: exit codes, messages, SIGHUP reload of the whitelist."""
import signal
import socket
import sys
import urllib.request
from urllib.parse import quote_from_bytes

import libtorrent as lt

from harness.ports import free_port
from harness.processes import Process, wait_for
from torrentweb.seeder.tracker.__main__ import main

IH = b"\x33" * 20


def write_config(tmp_path, http="127.0.0.1:0", extra=""):
    (tmp_path / "www").mkdir(exist_ok=True)
    path = tmp_path / "t.yaml"
    path.write_text(f"docroot: www\nbase_url: http://x/\ntracker:\n  http: {http}\n  udp: null\n"
                    f"  websocket: null\n{extra}")
    return path


def test_bad_config_and_whitelist_exit_2_with_the_reason(tmp_path, capsys):
    (tmp_path / "www").mkdir()
    (tmp_path / "bad.yaml").write_text("docroot: www\nbase_url: http://x/\ntracker:\n  htp: 1\n")
    assert main(["-c", str(tmp_path / "bad.yaml")]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'bad.yaml'}:4:3: tracker.htp: unknown key; expected one of "
                                       "allow_ip_param, announce, grace, header_timeout, http, interval, "
                                       "max_connections, max_message_size, max_offers, max_peers_per_swarm, "
                                       "min_interval, numwant_default, numwant_max, open, rate_burst, rate_limit, "
                                       "trusted_proxies, udp, udp_secret_rotation, websocket, ws_idle_timeout\n")
    config = write_config(tmp_path)
    assert main(["-c", str(config)]) == 2
    assert "give --whitelist FILE" in capsys.readouterr().err
    (tmp_path / "wl.txt").write_text("# ours\n" + IH.hex() + "\nabc\n")
    assert main(["-c", str(config), "--whitelist", str(tmp_path / "wl.txt")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'wl.txt'}:3: expected an info-hash of 40 hex digits, got 'abc'\n"


def test_a_taken_port_exits_3(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, http=f"127.0.0.1:{port}", extra="  open: true\n")
        assert main(["-c", str(config)]) == 3
    assert capsys.readouterr().err == f"error: tracker http listener: cannot bind 127.0.0.1:{port}: Address already in use\n"


def test_runs_until_sigterm_and_reloads_the_whitelist_on_sighup(tmp_path):
    port = free_port()
    config = write_config(tmp_path, http=f"127.0.0.1:{port}")
    whitelist = tmp_path / "wl.txt"
    whitelist.write_text("")
    proc = Process([sys.executable, "-m", "torrentweb.seeder.tracker", "-c", str(config), "--whitelist", str(whitelist)],
                   tmp_path / "tracker.log")
    try:
        wait_for(lambda: f"listening http 127.0.0.1:{port}" in proc.log(), 15, what="the listening line")
        url = (f"http://127.0.0.1:{port}/announce?info_hash={quote_from_bytes(IH)}&peer_id={'p' * 20}"
               "&port=5&left=0")
        reply = lambda: lt.bdecode(urllib.request.urlopen(url, timeout=5).read())
        assert b"failure reason" in reply()
        whitelist.write_text(IH.hex() + "\n")
        proc.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: b"failure reason" not in reply(), 10, what="the reloaded whitelist")
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(10) == 0
    finally:
        proc.stop()
