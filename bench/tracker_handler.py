#!/usr/bin/env python3
"""In-process cost of one HTTP announce in this tree's tracker: HttpTracker.handle on the
requests bench/tracker_announce.lua sends (1,000 whitelisted hashes, random peer ids/ports).
No sockets, no load generator: the CPU of parse + swarm + reply alone, for before/after figures
(run it with each tree's own venv):

    .venv/bin/python bench/tracker_handler.py     # ~20 s
"""
import hashlib
import random
import statistics
import time
from urllib.parse import quote_from_bytes
from torrentweb.config import TrackerConfig
from torrentweb.seeder.tracker.swarm import Swarms
from torrentweb.seeder.tracker.http import HttpTracker
hashes = [hashlib.sha1(b"torrentweb bench %d" % i).digest() for i in range(1000)]
allowed = set(hashes)
rng = random.Random(1)
def head():
    pid = "-WK0001-" + "".join(chr(rng.randint(97, 122)) for _ in range(12))
    q = (f"/announce?info_hash={quote_from_bytes(rng.choice(hashes), safe='')}&peer_id={pid}"
         f"&port={rng.randint(1024, 65000)}&uploaded=0&downloaded=0&left=1000&compact=1&numwant=50&event=started")
    return f"GET {q} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
heads = [head() for _ in range(200_000)]
cfg = TrackerConfig()
results = []
for rep in range(5):
    swarms = Swarms(cfg, allowed.__contains__)
    t = HttpTracker(swarms, cfg, None)
    t0 = time.process_time()
    for h in heads:
        t.handle(h, "127.0.0.1", False)
    results.append((time.process_time() - t0) * 1e6 / len(heads))
print(f"µs/announce (CPU), 5 reps of 200,000: median {statistics.median(results):.2f}, all "
      + " ".join(f"{r:.2f}" for r in results))
