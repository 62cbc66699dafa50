#!/usr/bin/env python3
"""The one world (issue 23, item 7) against the cdylib form and a restart loop, in one run.

Copies of examples/axum (and of the fixture host/tests/one-world) go to WORK (default
$TMPDIR/hotdev-bench-one-world-$USER), path dependencies rewritten to this checkout; each
copy keeps its own target directory between runs, so only the first run compiles axum.

- save to live: three copies of the axum app serve at once, each on its own port:
  - `world`: the app as written (one world), under `hotdev run --listen ADDR`;
  - `cdylib`: the same app with the plugin a `cdylib`, the api crate an ordinary rlib and
    no `.cargo/config.toml`, under `hotdev run --listen ADDR`;
  - `restart`: the same app without hot reload (the plugin an rlib the host calls
    directly), under `watchexec -r -e rs -- cargo run -p host` (or, without watchexec,
    the minimal restart loop below: poll the sources every 10 ms, kill, `cargo run`).
  Each edit rewrites the heading in `plugin/src/lib.rs`; the clock runs from the save until
  `GET /` answers with the new heading (polled every 5 ms). The route `/` awaits no tokio
  timer: in the cdylib form, a handler that does aborts the host. Edits go round-robin
  (world, cdylib, restart, world, ...) so that a change in the machine's load hits all
  three; the first round is not timed.
- file sizes: the one-world plugin and world library (`libapi.so`) against the cdylib
  plugin of the same code (debug builds, as the dev loop makes them).
- memory per reload: the fixture's `world-host PLUGIN memory:N` (N reloads of the same
  file, each generation called once; retired generations stay mapped), for the fixture
  built as one world and as a cdylib.

Prints `BENCH one_world_* key=value ...` lines.
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import free_port, line

HEADING = "<h1>Hello from hotdev</h1>"
FORMS = ["world", "cdylib", "restart"]

# The host of the restart form: the app without hot reload, the routes compiled in.
STATIC_HOST = """//! The app without hot reload: the plugin's routes compiled into the host.
use std::sync::Arc;

use api::app::Implementation;
use api::{AppState, tokio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:3000");
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            addr = args.next().unwrap_or(addr);
        }
    }
    let app = plugin::Routes::router(Arc::new(AppState::default()));
    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        api::axum::serve(listener, app).await
    })?;
    Ok(())
}
"""


def env_without_target():
    env = dict(os.environ)
    for k in ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"):
        env.pop(k, None)
    return env


def copy_tree(src, dst):
    """Copies the sources of `src` over `dst`, leaving `dst/target` as it is."""
    os.makedirs(dst, exist_ok=True)
    shutil.copytree(src, dst, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("target", ".git"))


def rewrite(path, pairs):
    with open(path) as f:
        text = f.read()
    for old, new in pairs:
        assert old in text, f"{old!r} not in {path}"
        text = text.replace(old, new)
    with open(path, "w") as f:
        f.write(text)


def to_cdylib(dir, api, plugin, plugin_lib="plugin/src/lib.rs"):
    """The cdylib form: the api crate an rlib, the plugin a cdylib, no one-world flags."""
    rewrite(os.path.join(dir, api, "Cargo.toml"), [('[lib]\ncrate-type = ["dylib"]\n', "")])
    rewrite(os.path.join(dir, plugin, "Cargo.toml"),
            [('crate-type = ["dylib"]', 'crate-type = ["cdylib"]')])
    shutil.rmtree(os.path.join(dir, ".cargo"), ignore_errors=True)


def prepare(root, work):
    """Copies of the axum app in its three forms and of the fixture in two."""
    apps = {}
    for form in FORMS:
        d = os.path.join(work, "axum-" + form)
        copy_tree(os.path.join(root, "examples/axum"), d)
        for member in ("api", "plugin"):
            rewrite(os.path.join(d, member, "Cargo.toml"),
                    [('path = "../../../reloadable"', f'path = "{root}/reloadable"')])
        rewrite(os.path.join(d, "host/Cargo.toml"), [('path = "../../.."', f'path = "{root}"')])
        if form == "cdylib":
            to_cdylib(d, "api", "plugin")
        elif form == "restart":
            rewrite(os.path.join(d, "api/Cargo.toml"), [('[lib]\ncrate-type = ["dylib"]\n', "")])
            rewrite(os.path.join(d, "plugin/Cargo.toml"), [('[lib]\ncrate-type = ["dylib"]\n', "")])
            rewrite(os.path.join(d, "plugin/src/lib.rs"), [("\nstruct Routes;", "\npub struct Routes;")])
            with open(os.path.join(d, "host/Cargo.toml")) as f:
                manifest = f.read()
            manifest = manifest[: manifest.index("[dependencies]")]
            manifest += '[dependencies]\napi = { path = "../api" }\nplugin = { path = "../plugin" }\n'
            with open(os.path.join(d, "host/Cargo.toml"), "w") as f:
                f.write(manifest)
            with open(os.path.join(d, "host/src/main.rs"), "w") as f:
                f.write(STATIC_HOST)
            shutil.rmtree(os.path.join(d, ".cargo"), ignore_errors=True)
        apps[form] = d
    fixtures = {}
    for form in ("world", "cdylib"):
        d = os.path.join(work, "fixture-" + form)
        copy_tree(os.path.join(root, "host/tests/one-world"), d)
        for member in ("api", "plugin"):
            rewrite(os.path.join(d, member, "Cargo.toml"),
                    [('path = "../../../../reloadable"', f'path = "{root}/reloadable"')])
        rewrite(os.path.join(d, "host/Cargo.toml"), [('path = "../../.."', f'path = "{root}/host"')])
        if form == "cdylib":
            to_cdylib(d, "api", "plugin")
        fixtures[form] = d
    return apps, fixtures


def cargo(dir, *args):
    subprocess.run(["cargo", *args], cwd=dir, env=env_without_target(), check=True,
                   stdin=subprocess.DEVNULL)


# --- save to live -------------------------------------------------------------------------


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


def wait_for(port, proc, needle, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        status, body = get_page(port)
        if status == 200 and needle in body:
            return time.monotonic()
        time.sleep(0.005)
    raise SystemExit(f"no page with {needle!r} on port {port} within {limit} s")


class RestartLoop:
    """A minimal restart loop for when watchexec is not installed: polls the mtimes of the
    workspace's `.rs` files every 10 ms; on a change, kills the process group of the
    running `cargo run` and starts another."""

    def __init__(self, dir, command, env):
        self.dir, self.command, self.env = dir, command, env
        self.child = None
        self.stopped = threading.Event()
        self.returncode = None
        self.pid = os.getpid()
        self.start()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def stamps(self):
        out = {}
        for sub in ("api/src", "plugin/src", "host/src"):
            for name in os.listdir(os.path.join(self.dir, sub)):
                if name.endswith(".rs"):
                    p = os.path.join(self.dir, sub, name)
                    out[p] = os.stat(p).st_mtime_ns
        return out

    def start(self):
        self.child = subprocess.Popen(self.command, cwd=self.dir, env=self.env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)

    def kill(self):
        try:
            os.killpg(self.child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.child.wait()

    def watch(self):
        seen = self.stamps()
        while not self.stopped.wait(0.01):
            now = self.stamps()
            if now != seen:
                seen = now
                self.kill()
                self.start()

    def poll(self):
        return None

    def stop(self):
        self.stopped.set()
        self.thread.join()
        self.kill()


def start(form, dir, port, hotdev, watchexec):
    env = env_without_target()
    addr = f"127.0.0.1:{port}"
    if form in ("world", "cdylib"):
        return subprocess.Popen([hotdev, "run", "--listen", addr], cwd=dir, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    command = ["cargo", "run", "-q", "-p", "host", "--", "--listen", addr]
    if watchexec:
        return subprocess.Popen(
            [watchexec, "-r", "-e", "rs", "-w", "api/src", "-w", "plugin/src", "-w", "host/src",
             "--", *command],
            cwd=dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
    return RestartLoop(dir, command, env)


def stop(proc):
    if isinstance(proc, RestartLoop):
        proc.stop()
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def save_to_live(apps, hotdev, watchexec, edits, forms):
    sources, originals = {}, {}
    for form in forms:
        sources[form] = os.path.join(apps[form], "plugin/src/lib.rs")
        with open(sources[form]) as f:
            originals[form] = f.read()
        assert HEADING in originals[form]
    procs, ports = {}, {}
    try:
        for form in forms:
            ports[form] = free_port()
            procs[form] = start(form, apps[form], ports[form], hotdev, watchexec)
        for form in forms:
            wait_for(ports[form], procs[form], "Hello from hotdev", 900)
        times = {form: [] for form in forms}
        for n in range(edits + 1):
            for form in forms:
                time.sleep(0.5)
                marker = f"{form} edit {n}"
                text = originals[form].replace(HEADING, f"<h1>Hello from hotdev ({marker})</h1>")
                saved = time.monotonic()
                with open(sources[form], "w") as f:
                    f.write(text)
                ms = (wait_for(ports[form], procs[form], marker, 300) - saved) * 1e3
                print(f"  {form} edit {n}: {ms:.0f} ms" + (" (warm-up)" if n == 0 else ""),
                      file=sys.stderr, flush=True)
                if n > 0:
                    times[form].append(ms)
    finally:
        for form, proc in procs.items():
            stop(proc)
        for form in forms:
            with open(sources[form], "w") as f:
                f.write(originals[form])
    base = statistics.median(times[forms[0]])
    for form in forms:
        t = times[form]
        line("one_world_save_to_live", {
            "form": form,
            "tool": {"world": "hotdev_run", "cdylib": "hotdev_run",
                     "restart": "watchexec" if watchexec else "restart_loop_py"}[form],
            "edits": len(t),
            "median_ms": f"{statistics.median(t):.1f}",
            "min_ms": f"{min(t):.1f}",
            "max_ms": f"{max(t):.1f}",
            f"vs_{forms[0]}": f"{statistics.median(t) / base:.2f}",
        })


# --- sizes and memory ---------------------------------------------------------------------


def sizes(apps):
    """File sizes, and what the loader maps of them (`size`'s text + data + bss)."""

    def size(dir, file):
        path = os.path.join(dir, "target/debug", file)
        loaded = 0
        if shutil.which("size"):
            out = subprocess.run(["size", path], capture_output=True, text=True).stdout
            loaded = int(out.splitlines()[1].split()[3])
        return os.path.getsize(path), loaded

    world, world_loaded = size(apps["world"], "libplugin.so")
    cdylib, cdylib_loaded = size(apps["cdylib"], "libplugin.so")
    api, api_loaded = size(apps["world"], "libapi.so")
    line("one_world_size", {
        "world_plugin_kib": world // 1024,
        "cdylib_plugin_kib": cdylib // 1024,
        "world_library_kib": api // 1024,
        "world_vs_cdylib": f"{world / cdylib:.3f}",
        "world_plugin_loaded_kib": world_loaded // 1024,
        "cdylib_plugin_loaded_kib": cdylib_loaded // 1024,
        "world_library_loaded_kib": api_loaded // 1024,
    })


def memory(fixtures, reloads):
    for form in ("world", "cdylib"):
        d = fixtures[form]
        cargo(d, "build", "-q", "-p", "world-host", "-p", "world-plugin")
        out = subprocess.run(
            [os.path.join(d, "target/debug/world-host"),
             os.path.join(d, "target/debug/libworld_plugin.so"), f"memory:{reloads}"],
            cwd=d, env=env_without_target(), capture_output=True, text=True, check=True).stdout
        m = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", out.split("memory:", 1)[1])}
        plugin = os.path.getsize(os.path.join(d, "target/debug/libworld_plugin.so"))

        def per_reload(key):
            return f"{(m[key + '_after'] - m[key]) / reloads:.1f}"

        line("one_world_memory", {
            "form": form,
            "reloads": reloads,
            "plugin_kib": plugin // 1024,
            "rss_per_reload_kib": per_reload("rss_kib"),
            "rss_file_per_reload_kib": per_reload("rss_file_kib"),
            "file_mapped_per_reload_kib": per_reload("file_mapped_kib"),
            "vmsize_per_reload_kib": per_reload("vmsize_kib"),
            "maps_per_reload": per_reload("maps"),
            "rss_end_kib": m["rss_kib_after"],
            "file_mapped_end_kib": m["file_mapped_kib_after"],
        })


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True, help="the hotdev checkout")
    p.add_argument("--hotdev", required=True, help="the hotdev binary")
    p.add_argument("--watchexec", help="watchexec; without it, the restart loop is this script's")
    p.add_argument("--work", default=os.path.join(
        os.environ.get("TMPDIR", tempfile.gettempdir()),
        f"hotdev-bench-one-world-{os.environ.get('USER', 'user')}"))
    p.add_argument("--edits", type=int, default=7)
    p.add_argument("--reloads", type=int, default=20)
    p.add_argument("--forms", default=",".join(FORMS), help="of world,cdylib,restart")
    p.add_argument("--skip", default="", help="of save,size,memory")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    root = os.path.abspath(args.root)
    hotdev = os.path.abspath(args.hotdev)
    apps, fixtures = prepare(root, args.work)
    forms = args.forms.split(",")
    # First builds, not timed (the copies keep their target directories between runs).
    for form in forms:
        cargo(apps[form], "build", "-q")
    if "size" not in skip:
        sizes(apps)
    if "memory" not in skip:
        memory(fixtures, args.reloads)
    if "save" not in skip:
        save_to_live(apps, hotdev, args.watchexec, args.edits, forms)


if __name__ == "__main__":
    main()
