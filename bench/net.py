#!/usr/bin/env python3
"""An emulated network of Linux namespaces: an origin and visitors, each with its own link.

    python bench/net.py selftest          # one `home` link: measured rate and delay, the ceiling
    python bench/net.py selftest --crowd 64   # also 64 home visitors sending at once (a ring)
    python bench/net.py up --hosts 3      # build a network, print its prefix, hold until a signal
    python bench/net.py cleanup           # remove namespaces of runs whose process is gone

Every host is a network namespace with one veth pair into a router namespace. A link's rate is
a tbf on each end of its veth (the host's end shapes its uplink, the router's end its downlink).
This kernel has no netem, so delay is a user-space delay line in the router: policy routing sends
each packet from any host into one TUN device; the delay line (this file, `_delayline`) holds it
for delay(source host) + delay(destination host), both read from the IPv4 header, and writes it
back into the same TUN, from where the router forwards it by destination.
Its cost per byte: the TUN carries GSO super-packets (TCP segments of up to 64 KiB as the sending
host's stack built them, behind a virtio_net_hdr), so one read and one write move many frames;
a tbf splits a super-packet larger than its burst, so the shaping is what it was. Plain packets
(UDP, ACKs) pass one by one. The forwarding that a TUN write runs is handed to the other CPUs
(RPS, `steer_forwarding`), so the delay line's own CPU stays free for being on time; it holds its
writes while their backlog is long, so a stalled CPU makes packets late, not lost.
Names carry a per-run prefix `twn<pid>-` and addresses (10.77.<host>.0/24) exist only inside
these namespaces; nothing routes to the host.
Teardown runs on leaving the `Network` context, at exit and on SIGTERM; `cleanup` handles SIGKILL.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import fcntl
import heapq
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from harness.processes import pid_alive

PREFIX_RE = re.compile(r"^twn(\d+)-")
NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
TUNSETIFF, IFF_TUN, IFF_NO_PI, IFF_VNET_HDR = 0x400454CA, 0x0001, 0x1000, 0x4000
TUNSETOFFLOAD, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN = 0x400454D0, 0x01, 0x02, 0x04, 0x08
VNET_HDR = 10          # struct virtio_net_hdr before each packet on a TUN with IFF_VNET_HDR
READ_MAX = 1 << 17     # a GSO super-packet: up to 64 KiB of IP, plus VNET_HDR
READ_BATCH = 32        # reads per wakeup of the delay line, before it looks at what is due again
BACKLOG_HIGH = 500     # the delay line holds its writes while a CPU's input backlog is longer (of 1000)
BACKLOG_EVERY = 32     # ... which it looks at every this many writes
BACKLOG_WAIT = 0.0005  # ... and then again after this many seconds
PR_SET_PDEATHSIG = 1
QUEUE_S = 0.1          # tbf queue: this many seconds of the link's rate (about a BDP at 50 ms RTT x2)
CEILING_SNDBUF = 32 << 20  # tcp_wmem's maximum in the ceiling runs' hosts (one flow must fill the line)
REALTIME_PRIORITY = 10  # SCHED_FIFO of the delay line
TABLE = 1000           # policy routing table of every packet not written by the delay line: into its TUN


class NetError(Exception):
    """The emulated network could not be built or measured."""


@dataclass(frozen=True)
class Profile:
    """One access link: rates in Mbit/s per direction (None: unshaped), one-way delay to the router."""
    name: str
    down_mbit: float | None
    up_mbit: float | None
    delay_ms: float


PROFILES = {p.name: p for p in (
    Profile("home", down_mbit=50, up_mbit=10, delay_ms=20),
    Profile("mobile", down_mbit=20, up_mbit=5, delay_ms=40),
    Profile("origin", down_mbit=20, up_mbit=20, delay_ms=5),   # a server's link is symmetric
    Profile("lan", down_mbit=None, up_mbit=None, delay_ms=0),  # the emulator alone: no shaping
)}


def scale_suffix(rate: float = 1.0, delay: float = 1.0) -> str:
    """How a scaled network is named after its profile or mix: " x0.25 delay x4", "" unscaled."""
    return (f" x{rate:g}" if rate != 1 else "") + (f" delay x{delay:g}" if delay != 1 else "")


def scaled(profile: Profile, rate: float = 1.0, delay: float = 1.0) -> Profile:
    """The profile with both rates times `rate` and its delay times `delay`: a slower copy of
    the same network (rate < 1: the same crowd asks less of this machine's CPU per second;
    both at 1/F: the same network with time stretched F times)."""
    if rate == 1 and delay == 1:
        return profile
    times = lambda mbit: None if mbit is None else mbit * rate     # noqa: E731
    return replace(profile, name=profile.name + scale_suffix(rate, delay), down_mbit=times(profile.down_mbit),
                   up_mbit=times(profile.up_mbit), delay_ms=profile.delay_ms * delay)


def crowd(mix: str, n: int) -> list[Profile]:
    """N visitor profiles from "home" or "home=0.7,mobile=0.3" (shares, rounded; the rest: the first)."""
    shares = []
    for part in mix.split(","):
        name, _, share = part.partition("=")
        if name not in PROFILES:
            raise NetError(f"{mix}: unknown profile {name!r} (known: {', '.join(PROFILES)})")
        shares.append((PROFILES[name], float(share) if share else 1.0))
    total = sum(s for _, s in shares)
    if total <= 0:
        raise NetError(f"{mix}: shares must add up to more than 0")
    counts = [round(n * s / total) for _, s in shares]
    counts[0] += n - sum(counts)
    return [p for (p, _), c in zip(shares, counts) for _ in range(max(c, 0))][:n]


def sh(*argv: str, netns: str | None = None) -> str:
    """Run one command (in a namespace if given); raise NetError with its stderr if it fails."""
    cmd = (["ip", "netns", "exec", netns] if netns else []) + list(argv)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise NetError(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _die_with_parent():
    """In the child before exec: SIGKILL when the starting thread dies (runs killed with SIGKILL)."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Proc:
    """A process started in a namespace; stop() ends it by its PID (TERM, then KILL)."""

    def __init__(self, popen: subprocess.Popen, netns: str):
        self.popen, self.netns, self.pid = popen, netns, popen.pid

    def stop(self, timeout: float = 5.0) -> int:
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode

    def _signal(self, sig):
        with contextlib.suppress(ProcessLookupError):   # it ended between poll() and kill()
            os.kill(self.pid, sig)


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, what: str):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns {what}: {os.strerror(err)}")


@contextlib.contextmanager
def entered(netns: str):
    """The calling thread inside netns for the block: sockets it makes, threads and processes it
    starts (libtorrent's network thread, Popen) belong there; back to its own namespace after."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY)
    try:
        _setns(target, netns)
        try:
            yield
        finally:
            _setns(home, "back")
    finally:
        os.close(target)
        os.close(home)


def _in_netns(netns: str, fn, *args):
    """fn(*args) on a fresh thread inside netns (sockets made there stay in that namespace)."""
    def moved():
        with entered(netns):
            return fn(*args)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(moved).result()


@dataclass
class Host:
    """One namespace on one link: `ip` is its address, `run` starts a command inside it."""
    net: "Network"
    name: str
    index: int
    profile: Profile
    netns: str
    ip: str

    def run(self, argv, **popen) -> Proc:
        """Start argv in this host (`ip netns exec`); the network stops it at teardown at the latest."""
        proc = Proc(subprocess.Popen(["ip", "netns", "exec", self.netns, *argv], **popen), self.netns)
        self.net.procs.append(proc)
        return proc

    def entered(self):
        """`with host.entered():` the calling thread works inside this host (see `entered`)."""
        return entered(self.netns)

    def socket(self, family=socket.AF_INET, kind=socket.SOCK_STREAM) -> socket.socket:
        """A socket of this host's namespace, usable from any thread of this process."""
        return _in_netns(self.netns, socket.socket, family, kind)


_live: list["Network"] = []


def _teardown_all():
    """atexit: tear down whatever networks were left up (a crash outside the context)."""
    for net in list(_live):
        net.close()


def _sigterm(signum, frame):
    """SIGTERM behaves like Ctrl-C: unwinding runs every `with Network` teardown."""
    raise SystemExit(128 + signum)


atexit.register(_teardown_all)


class Network:
    """The origin, visitors and router as namespaces; use as a context manager (teardown always).

    hosts: (name, Profile) pairs; host i (from 1) gets 10.77.i.2, the router 10.77.i.1 on its side.
    Enter it on a thread that outlives its use: the delay line dies with the thread that started
    it (PR_SET_PDEATHSIG, so a SIGKILLed run leaves no delay line), and then traffic stops.
    """

    def __init__(self, hosts: list[tuple[str, Profile]], prefix: str | None = None):
        if not 1 <= len(hosts) <= 250:
            raise NetError(f"{len(hosts)} hosts: expected 1 to 250")
        self.prefix = prefix or f"twn{os.getpid()}-{random.randrange(16**4):04x}-"
        self.specs = hosts
        self.router = f"{self.prefix}r"
        self.hosts: dict[str, Host] = {}
        self.procs: list[Proc] = []
        self.made: list[str] = []
        self.delayline: Proc | None = None
        self.lateness: dict | None = None     # the delay line's report, after close()

    def __enter__(self) -> "Network":
        _live.append(self)
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _sigterm)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def _netns(self, name: str, *sysctls: str):
        sh("ip", "netns", "add", name)
        self.made.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1", *sysctls, netns=name)

    def _build(self):
        self._netns(self.router, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.all.send_redirects=0",
                    "net.ipv4.conf.default.send_redirects=0")
        for i, (name, profile) in enumerate(self.specs, 1):
            self.hosts[name] = self._host(i, name, profile)
        self._start_delayline()
        # what the delay line writes back, and what the router sends itself (ICMP errors), is
        # routed by destination; every other packet (from any host) goes into the TUN first
        for priority, rule in enumerate((["iif", "lo", "lookup", "main"],
                                         ["iif", self._tun(), "lookup", "main"],
                                         ["lookup", str(TABLE)]), 100):
            sh("ip", "-n", self.router, "rule", "add", *rule, "priority", str(priority))
        sh("ip", "-n", self.router, "route", "add", "default", "dev", self._tun(), "table", str(TABLE))
        # if the delay line dies its TUN goes, and packets must not bypass it: unreachable
        sh("ip", "-n", self.router, "route", "add", "unreachable", "default", "metric", "1000",
           "table", str(TABLE))

    def _rveth(self, i: int) -> str:
        return f"{self.prefix[:-5]}v{i}"     # interface names: at most 15 characters

    def _tun(self) -> str:
        return f"{self.prefix[:-5]}t"

    def _host(self, i: int, name: str, profile: Profile) -> Host:
        ns, hveth, rveth = f"{self.prefix}{name}", f"{self.prefix[:-5]}h{i}", self._rveth(i)
        self._netns(ns, "net.ipv4.conf.all.rp_filter=0")
        sh("ip", "-n", ns, "link", "add", hveth, "type", "veth", "peer", "name", rveth,
           "netns", self.router)
        sh("ip", "-n", ns, "addr", "add", f"10.77.{i}.2/24", "dev", hveth)
        sh("ip", "-n", self.router, "addr", "add", f"10.77.{i}.1/24", "dev", rveth)
        sh("ip", "-n", ns, "link", "set", hveth, "up")
        sh("ip", "-n", self.router, "link", "set", rveth, "up")
        sh("ip", "-n", ns, "route", "add", "default", "via", f"10.77.{i}.1")
        shape(ns, hveth, profile.up_mbit)
        shape(self.router, rveth, profile.down_mbit)
        return Host(self, name, i, profile, ns, f"10.77.{i}.2")

    def _start_delayline(self):
        spec = {"tun": self._tun(), "queue": 1000 * len(self.hosts),
                "delays": {h.index: h.profile.delay_ms / 1000 for h in self.hosts.values()}}
        popen = subprocess.Popen(
            ["ip", "netns", "exec", self.router, sys.executable, os.path.abspath(__file__),
             "_delayline", json.dumps(spec)],
            stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
        self.delayline = Proc(popen, self.router)
        self.procs.append(self.delayline)
        line = popen.stdout.readline()
        if line.strip() != "ready":
            raise NetError(f"delay line did not start (exit {popen.wait(5)}): {line!r}")

    def close(self):
        """Stop every process started here, then delete the namespaces (with their veths and TUNs)."""
        if self not in _live:
            return
        errors = []
        if self.delayline and self.delayline.popen.poll() is not None:
            errors.append(f"the delay line died during the run (exit {self.delayline.popen.returncode})")
        for proc in reversed(self.procs):
            proc.stop()
        if self.delayline and self.delayline.popen.stdout:
            self.lateness = json.loads(self.delayline.popen.stdout.read() or "null")
        for ns in reversed(self.made):
            errors += remove_netns(ns)
        self.made.clear()
        _live.remove(self)
        if errors:
            raise NetError("teardown: " + "; ".join(errors))


def shape(netns: str, dev: str, mbit: float | None):
    """tbf on dev's egress: the rate, a burst of ~4 ms (at least 4 frames), QUEUE_S of queue.
    The burst is also the largest GSO super-packet tbf sends whole (a larger one it splits into
    frames, each shaped), so it stays at 4 ms: a larger one would let the link exceed its rate."""
    if mbit is None:
        return
    rate = mbit * 1e6 / 8
    burst = max(int(rate * 0.004), 4 * 1514)
    limit = int(rate * QUEUE_S) + burst
    sh("tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{int(mbit * 1e6)}bit",
       "burst", str(burst), "limit", str(limit), netns=netns)


def netns_pids(netns: str) -> list[int]:
    return [int(p) for p in sh("ip", "netns", "pids", netns).split()]


def remove_netns(netns: str) -> list[str]:
    """Kill what still runs in netns, then delete it; returns what went wrong, as messages."""
    for pid in netns_pids(netns):
        with contextlib.suppress(ProcessLookupError):   # it ended by itself meanwhile
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while netns_pids(netns) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        sh("ip", "netns", "del", netns)
    except NetError as e:
        return [str(e)]
    return []


def list_netns() -> list[str]:
    return [line.split()[0] for line in sh("ip", "netns", "list").splitlines() if line.strip()]


def cleanup(include_alive: bool = False) -> list[str]:
    """Remove namespaces named twn<pid>-… whose pid is gone (or all of them); returns their names."""
    removed = []
    for ns in list_netns():
        m = PREFIX_RE.match(ns)
        if not m or (not include_alive and pid_alive(int(m.group(1)))):
            continue
        errors = remove_netns(ns)
        if errors:
            raise NetError("; ".join(errors))
        removed.append(ns)
    return removed


# ---- the delay line (runs inside the router namespace) ----

def open_tun(name: str, queue: int) -> int:
    """A non-persistent TUN: it disappears with this process, so SIGKILL leaves none behind.
    It carries GSO super-packets (TCP up to 64 KiB, as the sending host's stack made them) with a
    virtio_net_hdr in front: one read and one write per super-packet instead of per frame."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
    fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
    sh("ip", "link", "set", name, "txqueuelen", str(queue), "up")
    return fd


def steer_forwarding(tun: str):
    """Pin the delay line to the last CPU and have RPS hand what it writes into the TUN to the
    others. A TUN write runs the whole forwarding in the writer's context (routing, the downlink's
    tbf, the veth, the receiving host's TCP and the ACK it sends back): 25 us a packet here, which
    made the delay line late by tens of ms at 32 visitors; with RPS a write costs ~8 us.
    The price: what it writes waits in the other CPUs' backlogs (netdev_max_backlog, 1000 by
    default, machine-wide, left alone), served by softirqs that compete with the hosts' processes;
    when those CPUs stall, a backlog overflows and drops (54 of 283,000 packets in one of five
    64-host crowd runs at full load). So the delay line holds its writes while a backlog is
    over BACKLOG_HIGH (`Backlog`): a stall makes packets late, as it did before, not lost.
    RPS onto all CPUs, this one included, left the delay line 51 ms late (p99) there."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return
    os.sched_setaffinity(0, {cpus[-1]})
    with open(f"/sys/class/net/{tun}/queues/rx-0/rps_cpus", "w") as mask:
        mask.write(f"{sum(1 << cpu for cpu in cpus[:-1]):x}")


def delay_of(packet: bytes, delays: dict[int, float]) -> float:
    """The source host's link delay + the destination host's (each 10.77.<host>.x; another address
    adds nothing), from the IPv4 header after the virtio_net_hdr; anything else: no delay."""
    ip = VNET_HDR
    if len(packet) < ip + 20 or packet[ip] >> 4 != 4:
        return 0.0
    delay = delays.get(packet[ip + 14], 0.0) if packet[ip + 12:ip + 14] == b"\x0a\x4d" else 0.0
    if packet[ip + 16:ip + 18] == b"\x0a\x4d":
        delay += delays.get(packet[ip + 18], 0.0)
    return delay


class Backlog:
    """The kernel's per-CPU input backlogs, from /proc/net/softnet_stat (one line per CPU, hex):
    column 1 counts drops (the backlog was full), column 13 is its length now (Linux 6.x)."""

    def __init__(self):
        self.fd = os.open("/proc/net/softnet_stat", os.O_RDONLY)

    def _rows(self) -> list[list[str]]:
        return [line.split() for line in os.pread(self.fd, 1 << 16, 0).decode().splitlines()]

    def drops(self) -> int:
        return sum(int(row[1], 16) for row in self._rows())

    def longest(self) -> int:
        """The longest backlog now, in packets (0 if this kernel does not say)."""
        return max((int(row[13], 16) for row in self._rows() if len(row) > 13), default=0)


class Lateness:
    """How late the delay line wrote packets past their due time: a histogram of 0.1 ms bins."""
    BIN, BINS = 1e-4, 1000

    def __init__(self):
        self.bins = [0] * (self.BINS + 1)
        self.packets = self.dropped = self.bytes = self.held = 0
        self.backlog = Backlog()         # the kernel's side of the losses (and, to the delay line, its pace)
        self.begin()

    def begin(self):
        """The CPU, wall clock and backlog drops count from here (start-up left out)."""
        times = os.times()
        self.cpu0, self.started = (times.user, times.system), time.monotonic()
        self.backlog0 = self.backlog.drops()

    def add(self, late: float, size: int):
        self.packets += 1
        self.bytes += size
        self.bins[min(int(late / self.BIN), self.BINS)] += 1

    def quantile(self, q: float) -> float:
        """Upper edge of the bin holding quantile q, in seconds (the last bin: >= 100 ms)."""
        rank, seen = q * self.packets, 0
        for i, count in enumerate(self.bins):
            seen += count
            if count and seen >= rank:
                return (i + 1) * self.BIN
        return 0.0

    def report(self) -> dict:
        """Also the delay line's own CPU (user + system: softirqs that run on its CPU are in it)
        over the bytes it carried: what one Mbit/s through it costs. `dropped` also counts what
        the kernel's per-CPU backlogs dropped meanwhile (machine-wide): RPS queues its writes there."""
        times = os.times()
        user, system = times.user - self.cpu0[0], times.system - self.cpu0[1]
        cpu, wall = user + system, time.monotonic() - self.started
        dropped = self.dropped + self.backlog.drops() - self.backlog0
        return {"packets": self.packets, "dropped": dropped, "bytes": self.bytes, "held": self.held,
                **{f"late_ms_p{q}": self.quantile(q / 100) * 1e3 for q in (50, 99)},
                "late_ms_max": self.quantile(1.0) * 1e3,
                "cpu_s": cpu, "cpu_user_s": user, "wall_s": wall,
                "cpu_pct_per_100mbit": 100 * cpu / max(self.bytes * 8 / 1e8, 1e-9)}


def delayline(spec: dict, lateness: Lateness, stop_fd: int):
    """Read the TUN; hold each packet until its due time in one heap; write it back when due.
    Due packets go first, then at most READ_BATCH reads, so neither side starves the other.
    Returns when stop_fd becomes readable."""
    tun = open_tun(spec["tun"], spec["queue"])
    steer_forwarding(spec["tun"])
    delays = {int(host): delay for host, delay in spec["delays"].items()}
    heap: list[tuple[float, int, bytes]] = []
    seq = since_look = 0
    print("ready", flush=True)
    lateness.begin()
    while True:
        now, held = time.monotonic(), False
        while heap and heap[0][0] <= now:
            if since_look >= BACKLOG_EVERY:
                if lateness.backlog.longest() > BACKLOG_HIGH:
                    held = True              # the forwarding CPU is behind: late, not lost
                    lateness.held += 1
                    break
                since_look = 0
            since_look += 1
            due, _, packet = heapq.heappop(heap)
            lateness.add(now - due, len(packet) - VNET_HDR)
            try:
                os.write(tun, packet)
            except BlockingIOError:      # the kernel's queue is full: a loss, counted
                lateness.dropped += 1
            now = time.monotonic()       # a write may forward the packet right here: it takes time
        timeout = BACKLOG_WAIT if held else max(0.0, heap[0][0] - now) if heap else None
        readable, _, _ = select.select([stop_fd, tun], [], [], timeout)
        if stop_fd in readable:
            return
        if tun in readable:
            now = time.monotonic()
            for _ in range(READ_BATCH):
                try:
                    packet = os.read(tun, READ_MAX)
                except BlockingIOError:
                    break
                seq += 1
                heapq.heappush(heap, (now + delay_of(packet, delays), seq, packet))


def run_delayline(spec: dict):
    """`_delayline`: real-time priority (it is the network: busy hosts must not slow it down);
    on SIGTERM, its lateness report as JSON on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the group: the network stops us
    stop_r, stop_w = os.pipe()
    os.set_blocking(stop_w, False)
    signal.set_wakeup_fd(stop_w)                   # SIGTERM wakes the select() through the pipe
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    lateness = Lateness()
    delayline(spec, lateness, stop_r)
    print(json.dumps(lateness.report()), flush=True)


# ---- measuring the emulator ----

class Worker(threading.Thread):
    """A thread whose exception is raised again by join(): a measurement never fails silently."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.error = fn, None

    def run(self):
        try:
            self.fn()
        except BaseException as e:          # handed to join()
            self.error = e

    def join(self, timeout=None):
        super().join(timeout)
        if self.error:
            raise self.error


def measure_rate(src: Host, dst: Host, nbytes: int, skip: float = 0.25, timeout: float = 30.0) -> float:
    """TCP src -> dst of nbytes; bit/s over the part after the first `skip` share (slow start)."""
    marks = []
    with dst.socket() as server:
        server.bind((dst.ip, 0))
        server.listen(1)
        server.settimeout(timeout)

        def receive():
            conn, _ = server.accept()
            conn.settimeout(timeout)
            with conn:
                while not marks or marks[-1][1] < nbytes:
                    chunk = conn.recv(1 << 20)
                    if not chunk:
                        break
                    marks.append((time.monotonic(), (marks[-1][1] if marks else 0) + len(chunk)))
        receiver = Worker(receive)
        receiver.start()
        with src.socket() as client:
            client.settimeout(timeout)
            client.connect((dst.ip, server.getsockname()[1]))
            client.sendall(bytes(nbytes))
            receiver.join(timeout)
    if not marks or marks[-1][1] < nbytes:
        raise NetError(f"{src.name} -> {dst.name}: {marks[-1][1] if marks else 0} of {nbytes} bytes")
    start = next((t, n) for t, n in marks if n >= skip * nbytes)
    end = marks[-1]
    return (end[1] - start[1]) * 8 / (end[0] - start[0])


def measure_rtt(src: Host, dst: Host, count: int = 20, gap: float = 0.01) -> list[float]:
    """UDP echo round trips src -> dst -> src in seconds (an echo thread in dst)."""
    done = threading.Event()
    with dst.socket(socket.AF_INET, socket.SOCK_DGRAM) as echo:
        echo.bind((dst.ip, 0))
        echo.settimeout(0.2)

        def reflect():
            while not done.is_set():
                with contextlib.suppress(TimeoutError):     # only to look at `done` again
                    data, peer = echo.recvfrom(64)
                    echo.sendto(data, peer)
        reflector = Worker(reflect)
        reflector.start()
        try:
            return probe(src, echo.getsockname(), count, gap)
        finally:
            done.set()
            reflector.join(5)


def probe(src: Host, to, count: int, gap: float) -> list[float]:
    """count + 1 numbered datagrams, one at a time; the first also waits for ARP: not kept."""
    rtts = []
    with src.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for i in range(count + 1):
            t0 = time.monotonic()
            sock.sendto(struct.pack("!I", i), to)
            data, _ = sock.recvfrom(64)
            rtts.append(time.monotonic() - t0)
            if struct.unpack("!I", data)[0] != i:
                raise NetError(f"echo {i}: got {data!r}")
            time.sleep(gap)
    return rtts[1:]


def median(values):
    s = sorted(values)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def selftest(profile: Profile = PROFILES["home"], down_bytes: int = 4 << 20,
             up_bytes: int = 2 << 20, ceiling_bytes: int = 64 << 20, crowd: int = 0) -> dict:
    """One `profile` link (beside an unshaped server): rates and RTT against it; then the ceiling;
    then, if crowd, that many `profile` hosts sending at once (`crowd_run`)."""
    load = os.getloadavg()
    with Network([("server", PROFILES["lan"]), ("visitor", profile)]) as net:
        rtts = measure_rtt(net["visitor"], net["server"])
        down = measure_rate(net["server"], net["visitor"], down_bytes)
        up = measure_rate(net["visitor"], net["server"], up_bytes)
    shaped = net.lateness
    idle, ceiling, flat_out = ceiling_run(0, ceiling_bytes)
    _, delayed, held = ceiling_run(profile.delay_ms, ceiling_bytes)
    expected_rtt = 2 * profile.delay_ms / 1000
    return {"profile": profile.name, "load_at_start": load,
            "down_mbit": down / 1e6, "down_expected_mbit": profile.down_mbit,
            "up_mbit": up / 1e6, "up_expected_mbit": profile.up_mbit,
            "rtt_ms_median": median(rtts) * 1e3, "rtt_ms_max": max(rtts) * 1e3,
            "rtt_ms_min": min(rtts) * 1e3, "rtt_expected_ms": expected_rtt * 1e3,
            "zero_delay_rtt_ms_median": median(idle) * 1e3,
            "ceiling_mbit": ceiling / 1e6, "lateness_profile": shaped, "lateness_ceiling": flat_out,
            "delayed_ceiling_mbit": delayed / 1e6, "lateness_delayed_ceiling": held,
            "crowd": crowd_run(crowd, profile=profile) if crowd else None}


def crowd_run(n: int, nbytes: int = 8 << 20, profile: Profile = PROFILES["home"]) -> dict:
    """n `profile` hosts in a ring, each sending nbytes over TCP to the next, all at once: what
    the delay line does at the load of a flash crowd (every uplink busy)."""
    with Network([(f"h{i}", profile) for i in range(1, n + 1)]) as net:
        hosts = list(net.hosts.values())
        rates = [0.0] * n

        def sender(i):
            def send():
                rates[i] = measure_rate(hosts[i], hosts[(i + 1) % n], nbytes, timeout=120)
            return send
        workers = [Worker(sender(i)) for i in range(n)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(180)
    return {"hosts": n, "profile": profile.name, "expected_mbit": profile.up_mbit,
            "min_mbit": min(rates) / 1e6, "median_mbit": median(rates) / 1e6,
            "total_mbit": sum(rates) / 1e6, "lateness": net.lateness}


def ceiling_run(delay_ms: float, nbytes: int):
    """Two unshaped hosts, one with delay_ms: (RTTs, TCP bit/s, the delay line's lateness).
    Their TCP may buffer CEILING_SNDBUF: the default 4 MiB holds one flow to ~600 Mbit/s at a
    40 ms round trip, below what the delay line carries."""
    with Network([("a", Profile("unshaped", None, None, delay_ms)), ("b", PROFILES["lan"])]) as net:
        for host in net.hosts.values():
            sh("sysctl", "-qw", f"net.ipv4.tcp_wmem=4096 16384 {CEILING_SNDBUF}", netns=host.netns)
        rtts = measure_rtt(net["a"], net["b"])
        rate = measure_rate(net["b"], net["a"], nbytes)
    return rtts, rate, net.lateness


def print_selftest(r: dict):
    print(f"profile {r['profile']}:")
    print(f"  downlink {r['down_mbit']:.1f} Mbit/s (profile {r['down_expected_mbit']}, "
          f"{r['down_mbit'] / r['down_expected_mbit'] - 1:+.1%})")
    print(f"  uplink   {r['up_mbit']:.1f} Mbit/s (profile {r['up_expected_mbit']}, "
          f"{r['up_mbit'] / r['up_expected_mbit'] - 1:+.1%})")
    print(f"  UDP RTT  median {r['rtt_ms_median']:.2f} ms, min {r['rtt_ms_min']:.2f}, "
          f"max {r['rtt_ms_max']:.2f} (expected {r['rtt_expected_ms']:.1f}, "
          f"{r['rtt_ms_median'] / r['rtt_expected_ms'] - 1:+.1%})")
    print("emulator alone (two unshaped hosts):")
    print(f"  ceiling  {r['ceiling_mbit']:.0f} Mbit/s TCP through the delay line, zero delay")
    print(f"  RTT      median {r['zero_delay_rtt_ms_median']:.3f} ms (the delay line's own)")
    print(f"  ceiling  {r['delayed_ceiling_mbit']:.0f} Mbit/s with the profile's delay, unshaped")
    for run in ("profile", "ceiling", "delayed_ceiling"):
        late = r[f"lateness_{run}"]
        print(f"  packets written late, {run} run: p50 <= {late['late_ms_p50']:.1f} ms, "
              f"p99 <= {late['late_ms_p99']:.1f} ms, max <= {late['late_ms_max']:.1f} ms "
              f"({late['packets']} packets, {late['dropped']} dropped); its CPU "
              f"{late['cpu_pct_per_100mbit']:.0f} % of a core per 100 Mbit/s carried")
    if c := r["crowd"]:
        late = c["lateness"]
        print(f"crowd: {c['hosts']} {c['profile']} hosts in a ring, every uplink sending at once:")
        print(f"  uplinks  min {c['min_mbit']:.1f}, median {c['median_mbit']:.1f} Mbit/s (profile "
              f"{c['expected_mbit']}), {c['total_mbit']:.0f} Mbit/s through the delay line in all")
        print(f"  packets written late: p50 <= {late['late_ms_p50']:.1f} ms, p99 <= "
              f"{late['late_ms_p99']:.1f} ms, max <= {late['late_ms_max']:.1f} ms "
              f"({late['packets']} packets, {late['dropped']} dropped); its CPU "
              f"{late['cpu_pct_per_100mbit']:.0f} % of a core per 100 Mbit/s carried")


def record(r: dict, command: str, path=None):
    """The selftest's figures as bench/RESULTS.md's section for bench/net.py."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from results import RESULTS, write_section
    lp, lc, ld = r["lateness_profile"], r["lateness_ceiling"], r["lateness_delayed_ceiling"]
    def cpu(late):
        return f"{late['cpu_pct_per_100mbit']:.0f} % of a core"
    rows = [("downlink", f"{r['down_mbit']:.1f} Mbit/s", f"{r['down_expected_mbit']} Mbit/s"),
            ("uplink", f"{r['up_mbit']:.1f} Mbit/s", f"{r['up_expected_mbit']} Mbit/s"),
            ("UDP round trip, median (min-max)",
             f"{r['rtt_ms_median']:.2f} ms ({r['rtt_ms_min']:.2f}-{r['rtt_ms_max']:.2f})",
             f"{r['rtt_expected_ms']:.1f} ms"),
            ("packets written late, p50 / p99 / max (shaped run)",
             f"<= {lp['late_ms_p50']:.1f} / {lp['late_ms_p99']:.1f} / {lp['late_ms_max']:.1f} ms", "0"),
            ("ceiling: TCP through the delay line, unshaped", f"{r['ceiling_mbit']:.0f} Mbit/s", ""),
            ("round trip at zero delay (the delay line's own)",
             f"{r['zero_delay_rtt_ms_median']:.3f} ms", "0"),
            ("packets written late, p50 / p99 / max (ceiling run)",
             f"<= {lc['late_ms_p50']:.1f} / {lc['late_ms_p99']:.1f} / {lc['late_ms_max']:.1f} ms", "0"),
            ("the delay line's CPU per 100 Mbit/s carried (ceiling run)", cpu(lc), ""),
            (f"ceiling at the profile's delay ({r['rtt_expected_ms'] / 2:g} ms one way), unshaped",
             f"{r['delayed_ceiling_mbit']:.0f} Mbit/s", ""),
            ("packets written late, p50 / p99 / max (that run)",
             f"<= {ld['late_ms_p50']:.1f} / {ld['late_ms_p99']:.1f} / {ld['late_ms_max']:.1f} ms", "0"),
            ("the delay line's CPU per 100 Mbit/s carried (that run)", cpu(ld), "")]
    if c := r["crowd"]:
        lr = c["lateness"]
        rows += [(f"crowd: {c['hosts']} {c['profile']} uplinks at once (a ring), min / median",
                  f"{c['min_mbit']:.1f} / {c['median_mbit']:.1f} Mbit/s "
                  f"({c['total_mbit']:.0f} in all)", f"{c['expected_mbit']} Mbit/s each"),
                 ("packets written late, p50 / p99 / max (crowd)",
                  f"<= {lr['late_ms_p50']:.1f} / {lr['late_ms_p99']:.1f} / {lr['late_ms_max']:.1f} ms "
                  f"({lr['dropped']} dropped)", "0"),
                 ("the delay line's CPU per 100 Mbit/s carried (crowd)", cpu(lr), "")]
    load = " / ".join(f"{x:.2f}" for x in r["load_at_start"])
    table = "\n".join(["| measured | value | profile |", "| --- | --- | --- |",
                       *(f"| {a} | {b} | {c} |" for a, b, c in rows)])
    write_section("net", f"""## The emulated network (`bench/net.py`)

Command: `{command}` as root on this machine
(2 vCPUs, shared; load average at the start {load}); {time.strftime('%Y-%m-%d')}.
One `{r['profile']}` link beside an unshaped server; rates are TCP goodput after the first quarter of
the transfer (slow start left out); tbf counts Ethernet frames, so goodput is ~95.6% of the link rate
(1448 payload bytes per 1514-byte frame). Delay line: Python, SCHED_FIFO on one CPU, one heap and
one TUN for all links; the TUN carries GSO super-packets, and RPS forwards what it writes on the
other CPU (module docstring of `bench/net.py`).

{table}

Reading: *late* is the time from a packet's due time to its write, from the delay line's own
histogram (0.1 ms bins); time a packet waits in its TUN's queue before the delay line reads it is
not in it, the round trips include it. A ceiling run is one TCP flow as fast as it goes (its hosts
may buffer 32 MiB: the default 4 MiB stops one flow at ~600 Mbit/s at 40 ms), so it ends where
the kernel's TCP, the forwarding or the delay line do; its lateness is where accuracy ends. The
crowd row is the load of a flash crowd: every visitor's uplink busy at once, over many flows. The CPU is
the delay line's user + system time (softirqs that happen to run on its CPU included) over the
bytes it carried. *Dropped* includes the kernel's backlog drops while it ran (RPS queues its
writes on the other CPU; it holds them while that backlog is long: `steer_forwarding`). On this shared VM, single
outliers of 5-15 ms come and go with the other engineers' load (steal time), even at SCHED_FIFO.
""", path or RESULTS)


def hold(n: int):
    """`up`: a network of n home hosts until SIGINT/SIGTERM (manual experiments, the SIGKILL test)."""
    with Network([(f"h{i}", PROFILES["home"]) for i in range(1, n + 1)]) as net:
        print(f"prefix {net.prefix}", *(f"{h.name}={h.ip}" for h in net.hosts.values()), flush=True)
        signal.pause()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("selftest", help="measure one link against its profile, and the ceiling")
    t.add_argument("--profile", choices=PROFILES, default="home")
    t.add_argument("--json", action="store_true")
    t.add_argument("--crowd", type=int, default=0, metavar="N",
                   help="also N hosts of the profile sending at once (the delay line under load)")
    t.add_argument("--record", action="store_true", help="also write the figures to bench/RESULTS.md")
    u = sub.add_parser("up", help="build a network of home links and hold it until a signal")
    u.add_argument("--hosts", type=int, default=2)
    c = sub.add_parser("cleanup", help="remove namespaces of dead runs (twn<pid>-…)")
    c.add_argument("--all", action="store_true", help="also those of runs still alive")
    d = sub.add_parser("_delayline")
    d.add_argument("spec")
    args = p.parse_args(argv)
    if args.cmd == "_delayline":
        run_delayline(json.loads(args.spec))
        return 0
    if args.cmd == "selftest":
        r = selftest(PROFILES[args.profile], crowd=args.crowd)
        print(json.dumps(r)) if args.json else print_selftest(r)
        if args.record:
            record(r, ".venv/bin/python bench/net.py selftest --record" + (
                f" --profile {args.profile}" if args.profile != "home" else "") + (
                f" --crowd {args.crowd}" if args.crowd else ""))
    elif args.cmd == "up":
        try:
            hold(args.hosts)
        except KeyboardInterrupt:       # Ctrl-C: the network is down by now
            return 128 + signal.SIGINT
    else:
        for ns in cleanup(args.all):
            print(f"removed {ns}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
