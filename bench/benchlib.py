"""What the benchmark scripts share: free ports, stopping servers, `wrk` runs and the
`BENCH name key=value ...` lines that bench/report.py reads."""

import re
import signal
import socket
import subprocess


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, timeout=20):
    """Ctrl-C for `proc`, then SIGKILL if it has not ended within `timeout` seconds."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def to_ms(value):
    """`wrk`'s `1.23ms`, `456.00us`, `1.50s` in milliseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    n, unit = float(m.group(1)), m.group(2)
    return n * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


def wrk(port, seconds, path):
    """`wrk -t2 -c16` on `path` for `seconds`: requests per second, p50 and p99 in
    milliseconds, socket errors, non-2xx answers and the number of requests."""
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": to_ms(pct["50"]),
        "p99": to_ms(pct["99"]),
        "errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
    }


def line(name, fields):
    print(f"BENCH {name} " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)
