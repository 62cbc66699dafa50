#!/usr/bin/env python3
"""`hotdev serve` supervised (a worker process serves) against `--single-process`, side by
side in one run, and the time from a worker crash to the first request served again.

    supervisor.py --hotdev BIN --hello DIR [--seconds N] [--rounds N] [--crashes N] [--release]

DIR is a copy of examples/hello (bench/run.sh makes one for serve_load.py; it is edited
here and put back at the end). Loopback only. Needs `wrk`.

1. Throughput: `wrk -t2 -c16` on /api/visits for N seconds, alternating the two modes for
   `--rounds` rounds (so that a change in the machine's load hits both); the medians over
   the rounds of requests per second, p50 and p99. Prints `BENCH serve_mode ...` lines.
2. Crash recovery (supervised only): for each crash, an edit adds a route that reads a
   null pointer and waits for its generation to serve; then one request to it kills the
   worker, and the clock runs until /api/visits answers 200 again on a fresh connection
   (served by a new worker on the last generation that did not crash; no build is
   involved). Prints `BENCH crash_recovery median_ms=... min_ms=... max_ms=... n=...`.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import time

from benchlib import free_port, line, stop, wrk

PATH = "/api/visits"
ANCHOR = '("GET", "/api/visits") =>'




def start(args, port, events, single):
    if os.path.exists(events):
        os.remove(events)
    cmd = [args.hotdev, "serve", args.hello, "--addr", f"127.0.0.1:{port}", "--events", events]
    if args.release:
        cmd.append("--release")
    if single:
        cmd.append("--single-process")
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO_TARGET_DIR", "RUST_LOG")}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def get(port, path, timeout=10.0):
    """Status of GET path on a fresh connection, or None when the connection failed."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status
    except OSError:
        return None
    except http.client.HTTPException:
        return None


def events(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def wait_event(path, pred, limit=600.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for e in events(path):
            if pred(e):
                return e
        time.sleep(0.02)
    raise SystemExit(f"no matching event in {path} within {limit} s")










def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hotdev", required=True)
    ap.add_argument("--hello", required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--crashes", type=int, default=5)
    ap.add_argument("--release", action="store_true", help="build the plugin with --release")
    ap.add_argument("--events", default="/tmp/hotdev-bench-supervisor.jsonl")
    args = ap.parse_args()
    lib = os.path.join(args.hello, "src", "lib.rs")
    with open(lib) as f:
        original = f.read()
    assert ANCHOR in original, f"{lib} has no {ANCHOR}"

    # 1. Throughput, the two modes alternating.
    results = {"supervised": [], "single-process": []}
    for _ in range(args.rounds):
        for mode in ("supervised", "single-process"):
            port = free_port()
            ev = f"{args.events}.{mode}"
            proc = start(args, port, ev, mode == "single-process")
            wait_event(ev, lambda e: e["event"] == "reloaded")
            results[mode].append(wrk(port, args.seconds, PATH))
            stop(proc)
    for mode, runs in results.items():
        line("serve_mode", {
            "mode": mode, "rounds": len(runs),
            "rps": f"{statistics.median(r['rps'] for r in runs):.0f}",
            "p50_ms": f"{statistics.median(r['p50'] for r in runs):.3f}",
            "p99_ms": f"{statistics.median(r['p99'] for r in runs):.3f}",
            "rps_all": "/".join(f"{r['rps']:.0f}" for r in runs),
            "errors": sum(r["errors"] for r in runs),
        })

    # 2. Crash to first request served again.
    port = free_port()
    ev = f"{args.events}.crash"
    proc = start(args, port, ev, False)
    try:
        wait_event(ev, lambda e: e["event"] == "reloaded" and e["generation"] == 1)
        times = []
        for n in range(args.crashes):
            generation = n + 2
            route = (f'("GET", "/crash") => Response::text(format!("{{}} {n}", unsafe {{ '
                     f'std::ptr::read_volatile(std::ptr::null::<u8>()) }})),\n            ')
            with open(lib, "w") as f:
                f.write(original.replace(ANCHOR, route + ANCHOR, 1))
            wait_event(ev, lambda e: e["event"] == "reloaded" and e["generation"] == generation)
            t0 = time.monotonic()
            get(port, "/crash")
            while get(port, PATH) != 200:
                if time.monotonic() - t0 > 60:
                    raise SystemExit("no answer within 60 s of a crash")
                time.sleep(0.001)
            times.append((time.monotonic() - t0) * 1e3)
            wait_event(ev, lambda e: e["event"] == "crashed" and e["generation"] == generation)
        line("crash_recovery", {
            "n": len(times), "median_ms": f"{statistics.median(times):.1f}",
            "min_ms": f"{min(times):.1f}", "max_ms": f"{max(times):.1f}",
            "all_ms": "/".join(f"{t:.0f}" for t in times),
        })
    finally:
        with open(lib, "w") as f:
            f.write(original)
        stop(proc)


if __name__ == "__main__":
    main()
