"""The cost of calling rewind from Python: the gradient of a built-in
model (ns2d at 32², 100 steps, binomial:10 — the spec's S problem) called
from Python against the same call timed inside Rust, shortest of N each.

    python python/examples/overhead.py [N]
"""

import sys
import time

import rewind

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 30
p = rewind.Problem("ns2d", n=32, steps=100, schedule="binomial:10", threads=1)
x0 = p.x0
p.gradient(x0)  # warm up: the arenas reach their size
best_py = float("inf")
for _ in range(repeats):
    t = time.perf_counter()
    p.gradient(x0)
    best_py = min(best_py, time.perf_counter() - t)
best_rust = p._gradient_seconds(x0, repeats)
print(f"ns2d 32² × 100, binomial:10, 1 thread, shortest of {repeats}:")
print(f"  from Python {best_py * 1e3:.3f} ms, inside Rust {best_rust * 1e3:.3f} ms: "
      f"overhead {100 * (best_py / best_rust - 1):+.1f} %")
