"""`serve` under steady load: 16 clients for 60 s, mostly valid requests, some malformed; latency and memory.

    python bench/serve_soak.py [--seconds 60] [--concurrency 16] [--malformed-share 0.05] [--warm-up 10]

Serves an untrained ResNet-18 (as bench/serve_latency.py does) and keeps ``concurrency`` clients busy, each
on its own keep-alive connection, sending one 224x224 JPEG per request; a share of the requests is
malformed instead (truncated JPEG, random bytes, bad chunked framing, an oversized header), each on a
connection of its own, and must be answered 4xx. Prints requests/s, p50/p99/max latency of the valid
requests and p99/p50, errors (a valid request not answered 200, a malformed one not answered 4xx, or no
answer), and the workers' resident memory after the warm-up and at the end (goal: under 5% growth).
"""

import argparse
import http.client
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from serve_latency import export_untrained, free_port, jpegs, same_model_threads_as_serve, start_serve

CHUNKED_HEAD = (
    b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def malformed_requests(image):
    """Raw HTTP requests that must each get a 4xx."""

    def with_length(body, content_type="image/jpeg", extra=b""):
        return (
            b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
            + content_type.encode()
            + b"\r\nContent-Length: %d\r\n" % len(body)
            + extra
            + b"\r\n"
            + body
        )

    rng = np.random.default_rng(0)
    return [
        with_length(image[: len(image) // 2]),
        with_length(rng.bytes(3000), "application/x-image"),
        with_length(b'{"b64": 3}\n', "application/jsonlines"),
        CHUNKED_HEAD + b"zz\r\nabc\r\n0\r\n\r\n",
        with_length(image, extra=b"X-Padding: " + b"x" * 9000 + b"\r\n"),
    ]


def malformed_status(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
        client.sendall(raw)
        response = http.client.HTTPResponse(client)
        response.begin()
        response.read()
        return response.status


class Client(threading.Thread):
    def __init__(self, port, images, malformed, share, stop_at, seed):
        super().__init__()
        self.port, self.images, self.malformed, self.share, self.stop_at = port, images, malformed, share, stop_at
        self.rng = np.random.default_rng(seed)
        self.latencies, self.errors, self.malformed_sent = [], 0, 0

    def run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while time.monotonic() < self.stop_at:
            try:
                if self.rng.random() < self.share:
                    self.malformed_sent += 1
                    raw = self.malformed[self.malformed_sent % len(self.malformed)]
                    self.errors += not 400 <= malformed_status(self.port, raw) < 500
                    continue
                image = self.images[int(self.rng.integers(len(self.images)))]
                started = time.perf_counter()
                connection.request("POST", "/invocations", body=image, headers={"Content-Type": "image/jpeg"})
                response = connection.getresponse()
                response.read()
                self.latencies.append((time.monotonic(), time.perf_counter() - started))
                self.errors += response.status != 200
            except (OSError, http.client.HTTPException):
                self.errors += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.close()


def workers_rss(serve):
    """The gunicorn workers' resident memory (serve's other child is nginx)."""
    (arbiter,) = [child for child in psutil.Process(serve.pid).children() if "gunicorn" in " ".join(child.cmdline())]
    return sum(worker.memory_info().rss for worker in arbiter.children())


def main():
    same_model_threads_as_serve()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--malformed-share", type=float, default=0.05)
    parser.add_argument("--warm-up", type=float, default=10, help="seconds of load before the first RSS reading")
    parser.add_argument("--workers", type=int, default=0, help="SAGEMAKER_MODEL_SERVER_WORKERS (0: serve decides)")
    args = parser.parse_args()
    images = jpegs(64)
    malformed = malformed_requests(images[0])
    with tempfile.TemporaryDirectory() as base_dir:
        export_untrained(Path(base_dir) / "model")
        port = free_port()
        serve = start_serve(base_dir, port, None, args.workers)
        try:
            started = time.monotonic()
            stop_at = started + args.warm_up + args.seconds
            clients = [
                Client(port, images, malformed, args.malformed_share, stop_at, seed) for seed in range(args.concurrency)
            ]
            for client in clients:
                client.start()
            time.sleep(args.warm_up)
            rss_after_warm_up = workers_rss(serve)
            for client in clients:
                client.join()
            rss_at_end = workers_rss(serve)
        finally:
            serve.terminate()
            serve.wait(timeout=60)
    measured = np.array(
        [latency for client in clients for finished, latency in client.latencies if finished >= started + args.warm_up]
    )
    p50, p99 = np.percentile(measured, [50, 99])
    errors = sum(client.errors for client in clients)
    sent_malformed = sum(client.malformed_sent for client in clients)
    print(
        f"ResNet-18, 3x224x224, concurrency {args.concurrency}, {args.seconds:g} s after {args.warm_up:g} s warm-up, "
        f"{args.malformed_share:.0%} malformed, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
        f"workers {args.workers or 'planned'}, {os.cpu_count()} CPUs"
    )
    print(f"{'valid requests/s':28}{len(measured) / args.seconds:>10.1f}")
    print(f"{'latency p50 / p99 / max':28}{p50 * 1000:>8.0f}ms{p99 * 1000:>8.0f}ms{measured.max() * 1000:>8.0f}ms")
    print(f"{'p99 / p50':28}{p99 / p50:>10.2f}   target <= 3")
    print(f"{'malformed sent':28}{sent_malformed:>10d}")
    print(f"{'errors':28}{errors:>10d}   target 0")
    print(
        f"{'worker RSS warm / end':28}{rss_after_warm_up / 2**20:>8.0f}MB{rss_at_end / 2**20:>8.0f}MB"
        f"{rss_at_end / rss_after_warm_up - 1:>+8.1%}   target < +5%"
    )


if __name__ == "__main__":
    main()
