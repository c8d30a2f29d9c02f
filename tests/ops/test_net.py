"""bench/net.py, on real namespaces: a link gives its profile's rate and delay, and nothing of a
run is left behind, whether it ends normally, by SIGTERM, or by SIGKILL followed by `cleanup`."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import wait_for
from support.scripts import script_module

ROOT = Path(__file__).resolve().parents[2]
NET = ROOT / "bench" / "net.py"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/net/tun"),
                                reason="network namespaces and TUN need root")


@pytest.fixture(scope="module")
def net():
    with script_module("bench/net.py", "benchnet") as module:
        yield module


def leftovers(prefix: str) -> list[str]:
    """Namespaces, and links of the host's own namespace, whose name carries the prefix."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    stem = prefix.split("-")[0]     # interface names carry twn<pid> only (15 characters at most)
    return [line for line in names.splitlines() if line.startswith(prefix)] + \
        [line for line in links.splitlines() if f" {stem}" in line]


def within(measured: float, expected: float, tolerance: float = 0.2) -> bool:
    return abs(measured - expected) <= tolerance * expected


@pytest.mark.parametrize("rate, delay", [(1, 1), (0.5, 2)])
def test_home_link_gives_its_rates_and_delay(net, rate, delay):
    """Also a scaled copy (flashcrowd's --link-scale / --delay-scale): half the rates, twice the delay."""
    home = net.scaled(net.PROFILES["home"], rate, delay)
    with net.Network([("server", net.PROFILES["lan"]), ("visitor", home)]) as n:
        rtts = net.measure_rtt(n["visitor"], n["server"], count=10)
        down = net.measure_rate(n["server"], n["visitor"], 3 << 20)
        up = net.measure_rate(n["visitor"], n["server"], 1 << 20)
    assert within(down, home.down_mbit * 1e6), f"downlink {down / 1e6:.1f} Mbit/s"
    assert within(up, home.up_mbit * 1e6), f"uplink {up / 1e6:.1f} Mbit/s"
    rtt = net.median(rtts)
    assert within(rtt, 2 * home.delay_ms / 1000), f"round trip {rtt * 1e3:.1f} ms"
    late = n.lateness                                # the delay line's own report, at teardown
    assert late["bytes"] > (3 << 20) + (1 << 20) and late["dropped"] == 0, late   # all of it crossed
    assert late["late_ms_p50"] <= 1.0, late


def test_tcp_crosses_the_delay_line_in_super_packets_and_udp_packet_by_packet(net):
    """GSO through the TUN: TCP moves in segments of many frames; UDP (WebRTC) still gets across."""
    unshaped = net.Profile("unshaped", None, None, delay_ms=5)   # a slow link sends short segments
    with net.Network([("a", net.PROFILES["lan"]), ("b", unshaped)]) as n:
        rtts = net.measure_rtt(n["a"], n["b"], count=5)
        net.measure_rate(n["a"], n["b"], 8 << 20)
    assert within(net.median(rtts), 2 * 0.005), f"round trip {net.median(rtts) * 1e3:.1f} ms"
    late = n.lateness
    assert late["bytes"] > 8 << 20 and late["dropped"] == 0, late
    assert late["bytes"] / late["packets"] > 3000, late      # ACKs included: frames are 1500


def test_delay_adds_the_source_and_destination_links_from_the_header(net):
    delays = {1: 0.005, 2: 0.040}
    header = bytes(net.VNET_HDR)
    def ipv4(src, dst):
        return header + bytes([0x45]) + bytes(11) + bytes(src) + bytes(dst) + bytes(40)
    assert net.delay_of(ipv4([10, 77, 1, 2], [10, 77, 2, 2]), delays) == 0.045
    assert net.delay_of(ipv4([10, 77, 2, 2], [10, 77, 2, 1]), delays) == 0.080
    assert net.delay_of(ipv4([10, 77, 1, 2], [192, 0, 2, 1]), delays) == 0.005
    assert net.delay_of(header + bytes([0x60]) + bytes(39), delays) == 0.0     # not IPv4


def test_delay_adds_up_over_both_links(net):
    """visitor -> origin crosses two links: the round trip is twice the sum of their delays."""
    with net.Network([("origin", net.PROFILES["origin"]), ("visitor", net.PROFILES["mobile"])]) as n:
        rtt = net.median(net.measure_rtt(n["visitor"], n["origin"], count=10))
    assert within(rtt, 2 * (0.005 + 0.040)), f"round trip {rtt * 1e3:.1f} ms"


def test_run_starts_the_command_inside_the_host(net):
    with net.Network([("a", net.PROFILES["lan"])]) as n:
        proc = n["a"].run(["ip", "-o", "-4", "addr"], stdout=subprocess.PIPE, text=True)
        out, _ = proc.popen.communicate(timeout=10)
    assert proc.popen.returncode == 0
    assert f"inet {n['a'].ip}/24" in out
    assert "eth0" not in out


def test_leaving_the_context_removes_everything(net):
    with net.Network([("a", net.PROFILES["home"]), ("b", net.PROFILES["mobile"])]) as n:
        sleeper = n["a"].run(["sleep", "60"])
        assert len(leftovers(n.prefix)) == 3          # router and two hosts, before teardown
    assert leftovers(n.prefix) == []
    assert sleeper.popen.poll() is not None
    assert n.delayline.popen.poll() is not None


def test_a_failed_build_removes_what_it_made(net):
    n = net.Network([("a", net.PROFILES["lan"]), ("a", net.PROFILES["lan"])])   # same name twice
    with pytest.raises(net.NetError, match="netns add"):
        with n:
            pass
    assert leftovers(n.prefix) == []


def up(hosts: int = 2):
    """`net.py up` in a child process; returns it and its prefix once the network is built."""
    child = subprocess.Popen([sys.executable, str(NET), "up", "--hosts", str(hosts)],
                             stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    assert line.startswith("prefix "), line
    return child, line.split()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_tear_down(net, sig):
    child, prefix = up()
    assert len(leftovers(prefix)) == 3
    child.send_signal(sig)
    assert child.wait(10) == 128 + sig
    assert leftovers(prefix) == []


def test_a_dead_delay_line_stops_traffic_and_fails_the_run(net):
    """Without it packets would cross the router undelayed: they must be refused instead."""
    n = net.Network([("a", net.PROFILES["lan"]), ("b", net.PROFILES["home"])])
    with pytest.raises(net.NetError, match="the delay line died during the run"):
        with n:
            os.kill(n.delayline.pid, signal.SIGKILL)
            n.delayline.popen.wait(5)
            with pytest.raises(OSError):
                net.measure_rtt(n["a"], n["b"], count=1)
    assert leftovers(n.prefix) == []


def test_sigkill_leaves_namespaces_that_cleanup_removes(net):
    child, prefix = up()
    child.kill()
    child.wait(10)
    assert len(leftovers(prefix)) == 3               # nothing ran at the kill: this is what cleanup is for
    router = f"{prefix}r"
    wait_for(lambda: not net.netns_pids(router), timeout=5, what="the delay line to die with its parent")
    out = subprocess.run([sys.executable, str(NET), "cleanup"], capture_output=True, text=True,
                         check=True).stdout
    ours = [line for line in out.splitlines() if prefix in line]
    assert sorted(ours) == [f"removed {prefix}{x}" for x in ("h1", "h2", "r")]
    assert leftovers(prefix) == []


def test_cleanup_leaves_live_runs_alone(net):
    with net.Network([("a", net.PROFILES["lan"])]) as n:
        removed = net.cleanup()
        assert not [ns for ns in removed if ns.startswith(n.prefix)]
        assert len(leftovers(n.prefix)) == 2


def test_crowd_mixes_profiles_by_share(net):
    names = [p.name for p in net.crowd("home=0.75,mobile=0.25", 8)]
    assert names == ["home"] * 6 + ["mobile"] * 2
    assert [p.name for p in net.crowd("mobile", 3)] == ["mobile"] * 3
    with pytest.raises(net.NetError, match="unknown profile 'dsl'"):
        net.crowd("home=1,dsl=1", 4)


@pytest.mark.slow
def test_selftest_cli_reports_the_ceiling_above_every_profile(net, capsys, tmp_path):
    assert net.main(["selftest", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    fastest = max(p.down_mbit for p in net.PROFILES.values() if p.down_mbit)
    assert report["ceiling_mbit"] > 4 * fastest
    assert report["delayed_ceiling_mbit"] > 4 * fastest        # with a BDP held in the delay line
    assert within(report["down_mbit"], 50) and within(report["up_mbit"], 10)
    assert within(report["rtt_ms_median"], 40)
    net.record(report, "the command", tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "Command: `the command`" in text
    assert f"| ceiling: TCP through the delay line, unshaped | {report['ceiling_mbit']:.0f} Mbit/s |" in text


def test_entered_moves_the_thread_in_and_back(net):
    own = os.readlink("/proc/thread-self/ns/net")
    with net.Network([("a", net.PROFILES["lan"])]) as n:
        with n["a"].entered():
            inside = os.readlink("/proc/thread-self/ns/net")
            out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True,
                                 check=True).stdout
        assert os.readlink("/proc/thread-self/ns/net") == own
    assert inside != own
    assert f"inet {n['a'].ip}/24" in out
