"""Ctrl-C stops a long call: the call raises KeyboardInterrupt at the
model's next step, and the problem works afterwards."""

import signal
import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent("""
    import signal, sys, time
    # Python's own Ctrl-C handler, as in a terminal: a child of a process
    # started in the background by a non-interactive shell (a CI script's
    # `cmd &`) inherits SIGINT ignored, and Python then installs none
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import rewind
    p = rewind.Problem("shallow-water", n=128, steps=4000, schedule="binomial:20", threads=1)
    x0 = p.x0
    print("ready", flush=True)
    t = time.perf_counter()
    try:
        p.gradient(x0)                 # about a minute: far longer than the test waits
        print("not interrupted", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted after {time.perf_counter() - t:.2f} s", flush=True)
    p.steps  # still usable:
    q = rewind.Problem("burgers", n=16, steps=4, threads=1)
    print("after", q.gradient(q.x0)["objective"] > 0, flush=True)
""")


def test_ctrl_c_stops_a_gradient_and_the_problem_still_works():
    child = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    sent = time.perf_counter()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    stopped_in = time.perf_counter() - sent
    assert child.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("interrupted after"), out
    assert lines[1] == "after True", out
    assert stopped_in < 5.0, stopped_in
