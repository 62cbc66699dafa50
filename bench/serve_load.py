#!/usr/bin/env python3
"""HTTP under load and start-up: `hotdev serve` against examples/hello's handler compiled
into a static tiny_http server (bench/static-hello), both release builds, loopback only.

    serve_load.py --hotdev BIN --static BIN --hello DIR [--seconds N] [--starts N]

DIR is a prebuilt copy of examples/hello (bench/run.sh makes it); it is edited during the
reload run. Prints `BENCH http ...` and `BENCH startup ...` lines. Needs `wrk`.
"""

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import threading
import time

from benchlib import free_port, line, stop, wrk

HEADING = "<h1>Hello from hotdev</h1>"
PATH = "/api/visits"




def start(kind, args, port, events=None):
    if kind.startswith("hotdev"):
        cmd = [args.hotdev, "serve", args.hello, "--release", "--addr", f"127.0.0.1:{port}"]
        if events:
            cmd += ["--events", events]
    else:
        cmd = [args.static, f"127.0.0.1:{port}"]
    # The plugin builds into its own target directory, where bench/run.sh prebuilt it.
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR")}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def forget_last_build(args):
    """Removes `hotdev serve`'s record of the last run's library: the next start asks cargo
    before it serves anything."""
    shutil.rmtree(os.path.join(args.hello, "target", "hotdev"), ignore_errors=True)


def first_ok(port, proc, limit=120.0):
    """Polls until the first 200 answer; returns the moment it arrived."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", PATH)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.002)
    raise SystemExit("server did not answer in time")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0










def http_fields(w):
    """A `wrk` run as the `BENCH http` line's fields."""
    return {
        "rps": f"{w['rps']:.0f}",
        "p50_ms": f"{w['p50']:.3f}",
        "p99_ms": f"{w['p99']:.3f}",
        "errors": str(w["errors"]),
        "non2xx": str(w["non2xx"]),
        "requests": str(w["requests"]),
    }


def count_reloads(events):
    with open(events) as f:
        return sum('"event":"reloaded"' in l for l in f)


def editor(lib, original, stop_flag, every, build=False, events=None):
    """Saves a new heading every `every` seconds, so that real rebuilds happen; with
    `build`, also runs the release build itself (for the static server, to load the
    machine the way hotdev's rebuilds do without any reload)."""
    n = 0
    while not stop_flag.is_set():
        n += 1
        text = original.replace(HEADING, f"<h1>Hello from hotdev (load edit {n})</h1>")
        with open(lib, "w") as f:
            f.write(text)
        edited = time.monotonic()
        if events:
            # Wait for this edit's generation (a newer edit during a build supersedes it,
            # so editing faster than cargo builds would never swap), at least `every`.
            seen = count_reloads(events)
            while count_reloads(events) == seen and time.monotonic() - edited < 10:
                time.sleep(0.005)
            stop_flag.wait(max(0.0, every - (time.monotonic() - edited)))
            continue
        if build:
            subprocess.run(["cargo", "build", "-q", "--release", "--lib"], cwd=os.path.dirname(os.path.dirname(lib)),
                           env={k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"},
                           check=False)
        stop_flag.wait(every)
    with open(lib, "w") as f:
        f.write(original)
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hotdev", required=True)
    ap.add_argument("--static", required=True)
    ap.add_argument("--hello", required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--events", default="/tmp/hotdev-bench-events.jsonl")
    args = ap.parse_args()

    # Start-up and memory: process start to first 200, and RSS right then. `hotdev` starts
    # from the last run's library (the fast start: a first start records it); `hotdev-cold`
    # has no record, so cargo is asked (`cargo metadata`, a build that finds nothing to do)
    # before anything serves.
    for kind in ("static", "hotdev-cold", "hotdev"):
        times, rss = [], []
        if kind == "hotdev":
            port = free_port()
            proc = start(kind, args, port)
            first_ok(port, proc)
            stop(proc)
        for _ in range(args.starts):
            if kind == "hotdev-cold":
                forget_last_build(args)
            port = free_port()
            t0 = time.monotonic()
            proc = start(kind, args, port)
            times.append((first_ok(port, proc) - t0) * 1e3)
            rss.append(rss_kib(proc.pid))
            stop(proc)
        line("startup", {"server": kind, "n": len(times),
                         "median_ms": f"{statistics.median(times):.1f}",
                         "min_ms": f"{min(times):.1f}", "max_ms": f"{max(times):.1f}",
                         "rss_kib": int(statistics.median(rss))})

    # Steady load, then load while the plugin is edited every 250 ms (hotdev only).
    for kind in ("static", "hotdev"):
        port = free_port()
        proc = start(kind, args, port, events=args.events if kind == "hotdev" else None)
        first_ok(port, proc)
        result = http_fields(wrk(port, args.seconds, PATH))
        line("http", {"server": kind, "mode": "steady", **result})
        lib = os.path.join(args.hello, "src", "lib.rs")
        if kind == "static":
            # The same edits and release builds, back to back, with no reload: what the
            # builds alone do to the latency on this two-core machine.
            with open(lib) as f:
                original = f.read()
            flag = threading.Event()
            edits = []
            t = threading.Thread(target=lambda: edits.append(editor(lib, original, flag, 0.25, True)))
            t.start()
            result = http_fields(wrk(port, args.seconds, PATH))
            flag.set()
            t.join()
            line("http", {"server": kind, "mode": "builds-every-250ms", **result,
                          "builds": edits[0] if edits else 0})
        if kind == "hotdev":
            with open(lib) as f:
                original = f.read()
            with open(args.events) as f:
                before = sum('"event":"reloaded"' in l for l in f)
            flag = threading.Event()
            edits = []
            t = threading.Thread(
                target=lambda: edits.append(editor(lib, original, flag, 0.25, events=args.events)))
            t.start()
            result = http_fields(wrk(port, args.seconds, PATH))
            flag.set()
            t.join()
            time.sleep(0.5)
            with open(args.events) as f:
                text = f.read()
            reloads = sum('"event":"reloaded"' in l for l in text.splitlines()) - before
            failed_builds = text.count('"event":"build_failed"')
            line("http", {"server": kind, "mode": "edit-reload-loop", **result,
                          "reloads": reloads, "edits": edits[0] if edits else 0,
                          "failed_builds": failed_builds})
        stop(proc)


if __name__ == "__main__":
    main()
