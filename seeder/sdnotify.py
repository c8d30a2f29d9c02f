"""systemd's notification protocol (sd_notify): READY, STATUS, WATCHDOG, STOPPING, RELOADING.

A datagram to $NOTIFY_SOCKET; without the variable (not under systemd) every call is a no-op.
"""
import os
import socket
import time


class Notifier:
    def __init__(self, address: str | None = None):
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        if self.address and self.address.startswith("@"):
            self.address = "\0" + self.address[1:]     # abstract namespace
        usec = os.environ.get("WATCHDOG_USEC")
        self.watchdog_interval = int(usec) / 2e6 if usec and usec.isdigit() else None

    def send(self, **fields):
        if not self.address:
            return
        msg = "\n".join(f"{k.upper()}={v}" for k, v in fields.items()).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.setblocking(False)   # a reader that stopped reading must never freeze the daemon
            try:
                s.sendto(msg, self.address)
            except OSError:
                pass       # systemd gone: nothing to tell, and no reason to stop seeding

    def ready(self, status: str):
        self.send(ready=1, status=status, mainpid=os.getpid())

    def status(self, status: str):
        self.send(status=status)

    def reloading(self):
        self.send(reloading=1, monotonic_usec=int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6))

    def stopping(self):
        self.send(stopping=1)

    def watchdog(self):
        self.send(watchdog=1)
