#!/usr/bin/env python3
"""Save to new response: hotdev against the restart loop, on the same edit.

- restart loop: `watchexec -r -e rs -- cargo run` on `bench/static-hello` (examples/hello's
  handler compiled into a plain tiny_http server), debug build: each save kills the
  server, rebuilds it and starts it again (state lost).
- hotdev: `hotdev serve` on a copy of `examples/hello`, debug plugin build: each save
  rebuilds the plugin and swaps it into the running server (state kept).

Each edit rewrites the page heading; the clock runs from the save until `GET /` answers
with the new heading (polled every 2 ms; refused connections while the restarted server
comes up are retried). Both servers are warmed up first (their first build is not timed).
Prints `BENCH restart_loop ...` lines.
"""

import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

from benchlib import free_port

HEADING = "<h1>Hello from hotdev</h1>"




def get_page(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, body
    except OSError:
        return None, ""


def wait_for(port, proc, needle, limit=300.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        status, body = get_page(port)
        if status == 200 and needle in body:
            return time.monotonic()
        time.sleep(0.002)
    raise SystemExit(f"no page with {needle!r} in time")


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def measure(name, proc, port, source, original, edits):
    wait_for(port, proc, "Hello from hotdev")
    times = []
    for n in range(1, edits + 1):
        time.sleep(0.5)
        marker = f"{name} edit {n}"
        text = original.replace(HEADING, f"<h1>Hello from hotdev ({marker})</h1>")
        saved = time.monotonic()
        with open(source, "w") as f:
            f.write(text)
        times.append((wait_for(port, proc, marker) - saved) * 1e3)
    return times


def report(tool, times, baseline=None):
    med = statistics.median(times)
    fields = [
        f"tool={tool}",
        f"edits={len(times)}",
        f"median_ms={med:.1f}",
        f"min_ms={min(times):.1f}",
        f"max_ms={max(times):.1f}",
    ]
    if baseline:
        fields.append(f"vs_restart_loop={med / statistics.median(baseline):.2f}")
    print("BENCH restart_loop " + " ".join(fields), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True, help="the hotdev workspace")
    p.add_argument("--hotdev", required=True, help="the hotdev binary")
    p.add_argument("--hello", required=True, help="a copy of examples/hello to serve")
    p.add_argument("--watchexec", required=True)
    p.add_argument("--edits", type=int, default=10)
    p.add_argument("--static-target-dir", help="the static server's cargo target directory "
                   "(kept between runs, so its dependencies stay built)")
    args = p.parse_args()
    env = dict(os.environ)
    env.pop("CARGO_TARGET_DIR", None)
    static_env = dict(env)
    if args.static_target_dir:
        static_env["CARGO_TARGET_DIR"] = args.static_target_dir

    work = tempfile.mkdtemp(prefix="hotdev-bench-restart-")
    try:
        # The static server with its own copy of hello's handler, so the edit is local.
        static = os.path.join(work, "static-hello")
        os.makedirs(os.path.join(static, "src"))
        shutil.copy(os.path.join(args.root, "bench/static-hello/Cargo.lock"), static)
        with open(os.path.join(args.root, "bench/static-hello/Cargo.toml")) as f:
            manifest = f.read().replace(
                'path = "../../reloadable"', f'path = "{args.root}/reloadable"'
            )
        with open(os.path.join(static, "Cargo.toml"), "w") as f:
            f.write(manifest)
        with open(os.path.join(args.root, "bench/static-hello/src/main.rs")) as f:
            main_rs = f.read().replace(
                '#[path = "../../../examples/hello/src/lib.rs"]', '#[path = "hello.rs"]'
            )
        assert '#[path = "hello.rs"]' in main_rs
        with open(os.path.join(static, "src/main.rs"), "w") as f:
            f.write(main_rs)
        with open(os.path.join(args.root, "examples/hello/src/lib.rs")) as f:
            original = f.read()
        assert HEADING in original
        static_source = os.path.join(static, "src/hello.rs")
        with open(static_source, "w") as f:
            f.write(original)
        subprocess.run(["cargo", "build", "-q"], cwd=static, env=static_env, check=True)

        port = free_port()
        watchexec = subprocess.Popen(
            [args.watchexec, "-r", "-e", "rs", "-w", "src", "--",
             "cargo", "run", "-q", "--", f"127.0.0.1:{port}"],
            cwd=static, env=static_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            restart = measure("restart", watchexec, port, static_source, original, args.edits)
        finally:
            stop(watchexec)
        with open(static_source, "w") as f:
            f.write(original)

        hello_source = os.path.join(args.hello, "src/lib.rs")
        with open(hello_source, "w") as f:
            f.write(original)
        subprocess.run(["cargo", "build", "-q", "--lib"], cwd=args.hello, env=env, check=True)
        port = free_port()
        hotdev = subprocess.Popen(
            [args.hotdev, "serve", args.hello, "--addr", f"127.0.0.1:{port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            hot = measure("hotdev", hotdev, port, hello_source, original, args.edits)
        finally:
            stop(hotdev)
        with open(hello_source, "w") as f:
            f.write(original)
        report("watchexec-restart", restart)
        report("hotdev", hot, restart)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
