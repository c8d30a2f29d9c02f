#!/usr/bin/env python3
"""A TCP relay with one outgoing budget for every connection together: the origin's uplink.

    python bench/throttle.py --listen 127.0.0.1:P --to 127.0.0.1:Q --rate 4194304

mod_ratelimit caps each response on its own (N visitors get N times the rate), which is not a
saturated uplink; this relay puts Apache behind one shared budget. Bytes towards the client
take slots on one timeline in arrival order (chunks of CHUNK bytes), so concurrent downloads
share the rate fairly and the total never exceeds it; requests towards Apache are not limited.
Prints "listening on HOST:PORT" once bound; stops on SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

CHUNK = 16 * 1024


class Budget:
    """Reserve transfer time on one shared timeline; wait until the slot has passed."""

    def __init__(self, rate: float):
        self.rate = rate
        self.free_at = 0.0

    async def spend(self, n: int):
        now = time.monotonic()
        start = max(now, self.free_at)
        self.free_at = start + n / self.rate
        delay = self.free_at - now
        if delay > 0:
            await asyncio.sleep(delay)


async def pipe(reader, writer, budget: Budget | None):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if budget:
                await budget.spend(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:   # the peer already went away: nothing to close
            pass


async def serve(listen, target, rate):
    budget = Budget(rate)

    async def handle(client_r, client_w):
        try:
            up_r, up_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w, None), pipe(up_r, client_w, budget))

    server = await asyncio.start_server(handle, *listen, backlog=512)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def address(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", type=address, required=True)
    p.add_argument("--to", type=address, required=True)
    p.add_argument("--rate", type=float, required=True, help="bytes/s for all connections together")
    args = p.parse_args(argv)
    if args.rate <= 0:
        p.error("--rate: expected a positive number of bytes per second")
    asyncio.run(serve(args.listen, args.to, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
