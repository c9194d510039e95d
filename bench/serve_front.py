"""`serve`'s front door under load and hostile clients: /ping, idle connections, slow clients.

    python bench/serve_front.py [--idle 10000] [--slow-seconds 20]

Serves an untrained ResNet-20 at 3x32x32 in one worker (the setting issue 22 measured the old front door in)
and measures with tools no one here wrote (Debian's ``hey`` and ``slowhttptest``, which must be installed)
and raw sockets:

- /ping under load: ``hey -c 200 -n 2000`` POSTs one JPEG each to /invocations; meanwhile a probe GETs /ping
  every 50 ms on a new connection, as a health checker does (SageMaker's /ping timeout is 2 s).
- idle connections: ``--idle`` TCP connections that send nothing are opened and held (the file limit raised
  as far as the hard limit allows); 20 valid requests, each on a new connection, before and while they are
  held.
- slow clients: ``slowhttptest`` with 500 sockets of slow headers, slow bodies and slow reads, each for
  ``--slow-seconds``; meanwhile a valid request every 0.2 s, each on a new connection.

Prints one table: latencies in ms, and the requests that failed (not 200, or no answer within 5 s).
"""

import argparse
import http.client
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from serve_latency import _jpeg, export_untrained, free_port, start_serve

from image_classifier import demo_data

IMAGE_SHAPE = (3, 32, 32)
PROBE_TIMEOUT = 5.0  # seconds before a probe or a valid request counts as failed
PING_TIMEOUT = 2.0  # SageMaker's
SLOW_SOCKETS = 500


def timed_request(port, method, path, body=None):
    """Seconds to a whole answer on a new connection; None when it is not a 200 within PROBE_TIMEOUT."""
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
        connection.request(method, path, body=body, headers={"Content-Type": "image/jpeg"} if body else {})
        response = connection.getresponse()
        response.read()
        connection.close()
    except OSError:
        return None
    elapsed = time.perf_counter() - started
    return elapsed if response.status == 200 and elapsed <= PROBE_TIMEOUT else None


def probe_while(port, method, path, body, interval, busy):
    """Requests every ``interval`` s while ``busy`` is alive: (latencies of the 200s, failures)."""
    latencies, failures = [], 0
    while busy.poll() is None:
        started = time.monotonic()
        latency = timed_request(port, method, path, body)
        if latency is None:
            failures += 1
        else:
            latencies.append(latency)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return latencies, failures


def ping_under_load(port, image_path, jpeg):
    load = subprocess.Popen(
        [
            "hey",
            "-c",
            "200",
            "-n",
            "2000",
            "-t",
            "60",
            "-m",
            "POST",
            "-T",
            "image/jpeg",
            "-D",
            str(image_path),
            f"http://127.0.0.1:{port}/invocations",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # let the 200 clients reach the worker
    pings, failures = probe_while(port, "GET", "/ping", None, 0.05, load)
    out, _ = load.communicate(timeout=600)
    statuses = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    hey_errors = 2000 - int(statuses.get("200", 0))
    slow_pings = sum(latency > PING_TIMEOUT for latency in pings)
    return pings, failures + slow_pings, f"hey: {statuses.get('200', 0)} of 2000 POSTs 200, {hey_errors} failed"


def raise_file_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(needed, hard)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def idle_connections(port, jpeg, count):
    limit = raise_file_limit(count + 200)
    count = min(count, limit - 200)
    before = [timed_request(port, "POST", "/invocations", jpeg) for _ in range(20)]
    held = []
    try:
        for _ in range(count):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        during = [timed_request(port, "POST", "/invocations", jpeg) for _ in range(20)]
        still_open = sum(_open(connection) for connection in held[:: max(1, count // 100)])
    finally:
        for connection in held:
            connection.close()
    return before, during, count, still_open


def _open(connection):
    connection.setblocking(False)
    try:
        return connection.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


SLOW_MODES = {
    "slow headers": ["-H", "-i", "10", "-x", "24"],
    "slow body": ["-B", "-i", "10", "-s", "8192", "-x", "10", "-t", "POST"],
    "slow read": ["-X", "-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3"],
}


def slow_clients(port, jpeg, mode, seconds):
    path = "/invocations" if mode == "slow body" else "/execution-parameters"
    attack = subprocess.Popen(
        [
            "slowhttptest",
            *SLOW_MODES[mode],
            "-c",
            str(SLOW_SOCKETS),
            "-r",
            "250",
            "-l",
            str(seconds),
            "-p",
            "3",
            "-u",
            f"http://127.0.0.1:{port}{path}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(3.0)  # the 500 sockets open at 250 a second
    try:
        return probe_while(port, "POST", "/invocations", jpeg, 0.2, attack)
    finally:
        attack.wait(timeout=seconds + 60)


def row(name, latencies, failures, note=""):
    values = np.array(latencies or [np.nan]) * 1000
    p50, p99, worst = np.percentile(values, 50), np.percentile(values, 99), values.max()
    print(f"{name:44}{len(latencies):>6}{failures:>8}{p50:>9.1f}{p99:>9.1f}{worst:>9.1f}  {note}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections held")
    parser.add_argument("--slow-seconds", type=int, default=20, help="length of each slowhttptest run")
    args = parser.parse_args()
    for tool in ("hey", "slowhttptest"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: apt-get install {tool}")
    jpeg = _jpeg(demo_data.render(1, IMAGE_SHAPE[1], np.random.default_rng(0)))
    with tempfile.TemporaryDirectory() as base_dir:
        export_untrained(Path(base_dir) / "model", 20, IMAGE_SHAPE)
        image_path = Path(base_dir) / "image.jpg"
        image_path.write_bytes(jpeg)
        port = free_port()
        os.environ["IMAGE_CLASSIFIER_HEADER_TIMEOUT"] = "120"  # hold the idle connections for the whole measure
        serve = start_serve(base_dir, port, dynamic_batch=None, workers=1)
        try:
            for _ in range(20):
                timed_request(port, "POST", "/invocations", jpeg)
            print(
                f"ResNet-20, 3x32x32, 1 worker, {os.cpu_count()} CPUs; new connection per probe; "
                f"failed: not 200 within {PROBE_TIMEOUT:g} s (/ping: within {PING_TIMEOUT:g} s)"
            )
            print(f"{'':44}{'200s':>6}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
            pings, failures, note = ping_under_load(port, image_path, jpeg)
            row("/ping, 200 concurrent POSTs (hey)", pings, failures, note)
            before, during, count, still_open = idle_connections(port, jpeg, args.idle)
            row("valid POST, no idle connections", [t for t in before if t], before.count(None))
            note = f"{still_open} of {len(range(0, count, max(1, count // 100)))} sampled still open"
            row(f"valid POST, {count:,} idle connections held", [t for t in during if t], during.count(None), note)
            for mode in SLOW_MODES:
                latencies, failures = slow_clients(port, jpeg, mode, args.slow_seconds)
                row(f"valid POST, {SLOW_SOCKETS} {mode} sockets", latencies, failures)
        finally:
            serve.terminate()
            serve.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
