#!/usr/bin/env python3
"""The swap as the user sees it: `hotdev serve --events -` on a copy of examples/hello,
supervised (a worker process serves) and `--single-process`, side by side in one run.

    swap_outside.py --hotdev [NAME=]BIN ... --hello DIR [--edits N] [--rounds N] [--release] [--pause S]

DIR is a copy of examples/hello (bench/run.sh makes one); it is edited here and put back
at the end. Each edit changes the page's heading and is saved in place. For every edit:

- swap: from `build_finished` (cargo's build is done) to `reloaded` (the new generation
  serves), both read from the event stream as they arrive on a pipe;
- first answer: from `build_finished` to the first `GET /` that answers with the new
  heading (requests on one keep-alive connection, back to back);
- save to live on top of cargo: from the save to that first new answer, less the build's
  own time (`build_finished`'s `ms`: up to cargo's report of success, so cargo's teardown
  after it counts as hotdev's when it delays the answer);
- save to answer: from the save to that first new answer, cargo included (to compare two
  binaries in one run, whatever each counts as the build).

The modes (and the binaries, when `--hotdev` is given more than once, for a before and
after in one run) take turns, `--rounds` servers of each, so that a change in the
machine's load hits all of them. Prints `BENCH swap_outside mode=... median_ms=... ...` lines:
medians, minima and maxima over all edits of a mode, and the median of each server's
edits (`per_server=`), which shows how far runs differ.
"""

import argparse
import http.client
import json
import os
import queue
import statistics
import subprocess
import threading
import time

from benchlib import free_port, line, stop

ANCHOR = "<h1>"


class Serve:
    """`hotdev serve DIR --events -`, its events stamped as they arrive."""

    def __init__(self, args, hotdev, single):
        self.port = free_port()
        cmd = [hotdev, "serve", args.hello, "--addr", f"127.0.0.1:{self.port}", "--events", "-"]
        if args.release:
            cmd.append("--release")
        if single:
            cmd.append("--single-process")
        env = {k: v for k, v in os.environ.items() if k not in ("CARGO_TARGET_DIR", "RUST_LOG")}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.conn = None

    def _read(self):
        for raw in self.proc.stdout:
            now = time.perf_counter()
            self.events.put((now, json.loads(raw)))

    def wait(self, kind, limit=600.0):
        """The arrival time and body of the next event of `kind` (earlier ones skipped)."""
        deadline = time.perf_counter() + limit
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no {kind} event within {limit} s")
            at, event = self.events.get(timeout=left)
            if event["event"] == "reload_rejected":
                raise RuntimeError(f"reload rejected: {event}")
            if event["event"] == kind:
                return at, event

    def ready(self):
        """Waits until a generation serves and cargo's first build has ended: with the fast
        start, the last run's library serves (`reloaded`) before cargo has checked it."""
        seen = set()
        while not {"reloaded", "build_finished"} <= seen:
            _, event = self.wait_any(("reloaded", "build_finished"))
            seen.add(event["event"])

    def wait_any(self, kinds, limit=600.0):
        deadline = time.perf_counter() + limit
        while True:
            at, event = self.events.get(timeout=max(0.001, deadline - time.perf_counter()))
            if event["event"] in kinds:
                return at, event

    def page(self):
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request("GET", "/")
                r = self.conn.getresponse()
                return r.read().decode(errors="replace")
            except (OSError, http.client.HTTPException):
                self.conn = None
        return ""

    def close(self):
        stop(self.proc)


def heading(text):
    at = text.find(ANCHOR)
    return text[at + len(ANCHOR):text.find("<", at + len(ANCHOR))] if at >= 0 else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hotdev", required=True, action="append", help="[NAME=]BIN")
    p.add_argument("--hello", required=True)
    p.add_argument("--edits", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--release", action="store_true")
    p.add_argument("--pause", type=float, default=0.1,
                   help="seconds between an answer and the next save (default 0.1)")
    args = p.parse_args()

    lib = os.path.join(args.hello, "src", "lib.rs")
    with open(lib) as f:
        original = f.read()
    text = original
    first = heading(text)
    assert first, f"no {ANCHOR} in {lib}"
    binaries = [h.split("=", 1) if "=" in h else ["hotdev", h] for h in args.hotdev]
    modes = {
        (name, mode): (path, single)
        for name, path in binaries
        for mode, single in (("supervised", False), ("single-process", True))
    }
    results = {m: {"swap": [], "first_answer": [], "on_top": [], "save_to_answer": [], "per_server": []}
               for m in modes}
    n = 0
    try:
        for _ in range(args.rounds):
            for mode, (path, single) in modes.items():
                serve = Serve(args, path, single)
                try:
                    serve.ready()
                    swaps = []
                    for _ in range(args.edits):
                        # A developer's next save comes well after the last build's cargo
                        # has exited (it reports success a few milliseconds before it
                        # exits, and the next build waits for that exit).
                        time.sleep(args.pause)
                        n += 1
                        new = f"{first} edit {n}"
                        current = heading(text)
                        text = text.replace(f"{ANCHOR}{current}<", f"{ANCHOR}{new}<", 1)
                        saved = time.perf_counter()
                        with open(lib, "w") as f:
                            f.write(text)
                        finished, event = serve.wait("build_finished")
                        reloaded, _ = serve.wait("reloaded")
                        while heading(serve.page()) != new:
                            pass
                        answered = time.perf_counter()
                        swap = (reloaded - finished) * 1e3
                        swaps.append(swap)
                        results[mode]["swap"].append(swap)
                        results[mode]["first_answer"].append((answered - finished) * 1e3)
                        results[mode]["on_top"].append((answered - saved) * 1e3 - event["ms"])
                        results[mode]["save_to_answer"].append((answered - saved) * 1e3)
                    results[mode]["per_server"].append(statistics.median(swaps))
                finally:
                    serve.close()
    finally:
        with open(lib, "w") as f:
            f.write(original)

    for mode, r in results.items():
        fields = {"hotdev": mode[0], "mode": mode[1], "n": len(r["swap"])}
        for key in ("swap", "first_answer", "on_top", "save_to_answer"):
            fields[f"{key}_median_ms"] = f"{statistics.median(r[key]):.2f}"
            fields[f"{key}_min_ms"] = f"{min(r[key]):.2f}"
            fields[f"{key}_max_ms"] = f"{max(r[key]):.2f}"
        fields["per_server"] = ",".join(f"{s:.2f}" for s in r["per_server"])
        line("swap_outside", fields)


if __name__ == "__main__":
    main()
