"""What `serve` costs over the bare model: ResNet-18 at 3x224x224, in-process versus over HTTP.

    python bench/serve_latency.py [--requests 640] [--rounds 10] [--dynamic-batch N] [--workers N]

Exports an untrained ResNet-18 (4 classes; weights do not change the time) to a temporary model directory,
starts `serve` on it, then prints one table:
  in-process   the network as serving runs it (predictor.Executors: one executor bound per batch size,
               the fastest way we know to run these files in one process), on preprocessed arrays:
               latency of batch 1, images/s of batch 8; and, for reference, the Gluon SymbolBlock
               (artifacts.load) that serving ran before
  HTTP         `serve` on 127.0.0.1 answering 224x224 JPEGs (decode and preprocessing included):
               p50/p99 latency at concurrency 1, images/s at concurrency 8 (one image per request)
and the ratios against the targets: p50 <= 1.15x in-process, throughput >= 0.9x in-process; then the
memory of each of serve's processes, idle once it answers /ping and again after the rounds: resident (RSS)
and proportional (PSS: pages shared between processes counted in shares) from /proc/PID/smaps_rollup, and
their totals against the target, half of the 1,061 MB that AWS's MXNet serving stack (Multi Model Server)
holds idle with the same files.
The two are measured in alternating rounds, each round the model then the endpoint, so that other load on
the machine weighs on both alike. Each ratio is the median of the rounds' own ratios (with their lowest
and highest beside it): on a shared virtual machine, bursts of a second or two slow everything by up to
40%, and a burst that falls on one side of one round moves a ratio of totals, not the median. The client
shares the machine with the server, so an idle host gives the truest numbers.
"""

import argparse
import http.client
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import mxnet as mx
import numpy as np
import psutil
from PIL import Image

from image_classifier import demo_data, image_ops
from image_classifier.model import artifacts, networks
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.serving import workers
from image_classifier.serving.predictor import Executors

IMAGE_SHAPE = (3, 224, 224)
NUM_CLASSES = 4
LATENCY_TARGET = 1.15
THROUGHPUT_TARGET = 0.9
CONCURRENCY = 8
READY_TIMEOUT = 120
MEMORY_TARGET_MB = 530  # half of Multi Model Server's 1,061 MB idle with ResNet-18 (issue 26)
MB = 1024 * 1024


def export_untrained(model_dir, num_layers=18, image_shape=IMAGE_SHAPE):
    """An untrained ResNet of ``num_layers`` saved as `train` saves a model, with the demo data's classes."""
    served = networks.with_probabilities(networks.build(num_layers, NUM_CLASSES), multi_label=False)
    served.hybridize()
    served(mx.nd.zeros((1, *image_shape)))
    artifacts.save_epoch(served, model_dir, 1)
    class_names = dict(enumerate(demo_data.CLASS_NAMES))
    artifacts.write_metadata(model_dir, Preprocessing.for_training(image_shape, resize=None), class_names)


def jpegs(count):
    rng = np.random.default_rng(0)
    images = (demo_data.render(index % NUM_CLASSES, IMAGE_SHAPE[1], rng) for index in range(count))
    return [_jpeg(image) for image in images]


def _jpeg(image):
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=90)
    return out.getvalue()


class InProcess:
    """A network in this process, on preprocessed arrays: ``forward`` takes an (N, C, H, W) batch."""

    def __init__(self, model_dir, forward):
        self.forward = forward
        preprocessing = artifacts.read_preprocessing(model_dir)
        self.batch = np.stack([preprocessing.apply(image_ops.decode_rgb(jpeg)) for jpeg in jpegs(CONCURRENCY)])
        for _ in range(5):
            self.forward(self.batch[:1])
            self.forward(self.batch)

    @classmethod
    def executors(cls, model_dir):
        return cls(model_dir, Executors(model_dir, mx.cpu(), IMAGE_SHAPE))

    @classmethod
    def symbol_block(cls, model_dir):
        net = artifacts.load(model_dir)
        return cls(model_dir, lambda inputs: net(mx.nd.array(inputs)).asnumpy())

    def latencies(self, runs):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            self.forward(self.batch[:1])
            times.append(time.perf_counter() - started)
        return times

    def throughput_run(self, images):
        """(images, seconds) for about ``images`` images in batches of CONCURRENCY."""
        batches = max(1, images // CONCURRENCY)
        started = time.perf_counter()
        for _ in range(batches):
            self.forward(self.batch)
        return batches * CONCURRENCY, time.perf_counter() - started


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_serve(base_dir, port, dynamic_batch, workers, precision=None):
    environ = dict(
        os.environ,
        SAGEMAKER_BASE_DIR=str(base_dir),
        SAGEMAKER_BIND_TO_PORT=str(port),
        IMAGE_CLASSIFIER_BIND_HOST="127.0.0.1",
    )
    if precision:
        environ["IMAGE_CLASSIFIER_PRECISION"] = precision
    if dynamic_batch is not None:
        environ["IMAGE_CLASSIFIER_DYNAMIC_BATCH"] = str(dynamic_batch)
    if workers:
        environ["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(workers)
    serve = Path(sys.executable).with_name("serve")
    process = subprocess.Popen([str(serve)], env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with code {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("serve did not answer /ping in time")


def post_images(port, images, latencies, answered=None):
    """Each image in a request of its own on one keep-alive connection; each request's latency appended to
    ``latencies``, and the time each answer came to ``answered`` (when given)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for image in images:
        started = time.perf_counter()
        connection.request("POST", "/invocations", body=image, headers={"Content-Type": "image/jpeg"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"/invocations answered {response.status}")
        latencies.append(time.perf_counter() - started)
        if answered is not None:
            answered.append(time.perf_counter())
    connection.close()


def http_latencies(port, images):
    latencies = []
    post_images(port, images, latencies)
    return latencies


def http_throughput_run(port, images):
    """(images, seconds) for ``images`` sent by CONCURRENCY clients at once, one image per request, in the
    steady state: from the CONCURRENCY-th answer to the last. Before it, the client threads are still
    starting one by one and the first passes run part-full, which the in-process side, batches of
    CONCURRENCY back to back, does not have."""
    shares = [images[client::CONCURRENCY] for client in range(CONCURRENCY)]
    answered = []
    threads = [threading.Thread(target=post_images, args=(port, share, [], answered)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered.sort()
    return len(answered) - CONCURRENCY, answered[-1] - answered[CONCURRENCY - 1]


def _role(process, serve_pid):
    name = " ".join(process.cmdline())
    if process.pid == serve_pid:
        return "serve (supervisor)"
    if "gunicorn" in name:
        return "gunicorn arbiter" if process.ppid() == serve_pid else "gunicorn worker"
    return "nginx master" if "master" in name else "nginx worker"


def process_memory(serve_pid):
    """[(role, RSS bytes, PSS bytes)] of `serve` and every process under it."""
    serve = psutil.Process(serve_pid)
    found = []
    for process in [serve, *serve.children(recursive=True)]:
        memory = process.memory_full_info()
        found.append((_role(process, serve_pid), process.pid, memory.rss, memory.pss))
    return [(role, rss, pss) for role, _, rss, pss in sorted(found)]


def print_memory(started, after):
    """The two snapshots of process_memory side by side, process by process, with their totals."""
    print(f"{'memory, MB':34}{'RSS idle':>12}{'PSS idle':>12}{'RSS after':>12}{'PSS after':>12}")
    for (role, rss, pss), (_, rss_after, pss_after) in zip(started, after, strict=True):
        print(f"{role:34}{rss / MB:>12.0f}{pss / MB:>12.0f}{rss_after / MB:>12.0f}{pss_after / MB:>12.0f}")
    totals = [sum(row[column] for row in snapshot) / MB for snapshot in (started, after) for column in (1, 2)]
    print(f"{'total':34}{''.join(f'{total:>12.0f}' for total in totals)}   target RSS <= {MEMORY_TARGET_MB}")


@dataclass(frozen=True)
class Round:
    latency: float  # seconds, in-process batch 1, the executors serving runs (median of the round)
    throughput: float  # images/s, in-process batch 8, the same
    block_latency: float  # the SymbolBlock's
    block_throughput: float
    http_latencies: list  # seconds, HTTP at concurrency 1, every request
    http_throughput: float  # images/s, HTTP at concurrency 8 (one image per request)


@dataclass(frozen=True)
class Figures:
    rounds: list

    def median(self, name):
        return float(np.median([getattr(one, name) for one in self.rounds]))

    def http_percentile(self, percent):
        return float(np.percentile([value for one in self.rounds for value in one.http_latencies], percent))

    def latency_ratios(self):
        return [np.median(one.http_latencies) / one.latency for one in self.rounds]

    def throughput_ratios(self):
        return [one.http_throughput / one.throughput for one in self.rounds]


def measure(model_dir, port, requests, rounds):
    """Model and endpoint measured in alternation, round after round."""
    model, symbol_block = InProcess.executors(model_dir), InProcess.symbol_block(model_dir)
    images = jpegs(requests // rounds)
    # Warm-up, not measured: each side's first passes of every batch size (MKL-DNN primitives, bound
    # executors, the server's batch sizes at concurrency 8) cost far more than the steady state.
    post_images(port, images[:20], [])
    http_throughput_run(port, images)
    model.throughput_run(len(images))
    symbol_block.throughput_run(len(images))
    measured = []
    for _ in range(rounds):
        latency, block_latency = np.median(model.latencies(len(images))), np.median(symbol_block.latencies(len(images)))
        http_times = http_latencies(port, images)
        throughput, block_throughput = model.throughput_run(len(images)), symbol_block.throughput_run(len(images))
        http_throughput = http_throughput_run(port, images)
        measured.append(
            Round(
                latency,
                images_per_second(throughput),
                block_latency,
                images_per_second(block_throughput),
                http_times,
                images_per_second(http_throughput),
            )
        )
    return Figures(measured)


def images_per_second(run):
    count, seconds = run
    return count / seconds


def same_model_threads_as_serve():
    """Both sides at the same OMP_NUM_THREADS: serve's plan for this machine, unless already set. OpenMP
    reads it when MXNet loads, so this process starts again with it."""
    if "OMP_NUM_THREADS" not in os.environ:
        threads = workers.plan(num_gpus=0, cores=workers.available_cores()).model_threads
        os.execve(sys.executable, [sys.executable, *sys.argv], dict(os.environ, OMP_NUM_THREADS=str(threads)))


def main():
    same_model_threads_as_serve()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=640, help="requests (and images) per measurement, in all")
    parser.add_argument("--rounds", type=int, default=10, help="alternations of model and endpoint")
    parser.add_argument("--dynamic-batch", type=int, help="IMAGE_CLASSIFIER_DYNAMIC_BATCH for serve (default: planned)")
    parser.add_argument("--workers", type=int, default=0, help="SAGEMAKER_MODEL_SERVER_WORKERS (0: serve decides)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base_dir:
        model_dir = Path(base_dir) / "model"
        export_untrained(model_dir)
        port = free_port()
        serve = start_serve(base_dir, port, args.dynamic_batch, args.workers)
        try:
            memory_started = process_memory(serve.pid)
            figures = measure(model_dir, port, args.requests, args.rounds)
            memory_after = process_memory(serve.pid)
        finally:
            serve.terminate()
            serve.wait(timeout=60)
    print(
        f"ResNet-18, 3x224x224, {args.requests} requests in {args.rounds} rounds, "
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
        f"workers {args.workers or 'planned'}, "
        f"dynamic batch {'planned' if args.dynamic_batch is None else args.dynamic_batch}, {os.cpu_count()} CPUs"
    )
    print("medians of the rounds; ratio: the median of the rounds' ratios (lowest-highest)")
    latency_ratios, throughput_ratios = figures.latency_ratios(), figures.throughput_ratios()
    print(f"{'':34}{'in-process':>12}{'HTTP':>12}{'ratio':>8}{'(range)':>13}{'target':>9}{'SymbolBlock':>13}")
    print(
        f"{'latency p50, batch/concurrency 1':34}{figures.median('latency') * 1000:>10.1f}ms"
        f"{figures.http_percentile(50) * 1000:>10.1f}ms{np.median(latency_ratios):>8.2f}"
        f"{f'({min(latency_ratios):.2f}-{max(latency_ratios):.2f})':>13}{'<= ' + str(LATENCY_TARGET):>9}"
        f"{figures.median('block_latency') * 1000:>11.1f}ms"
    )
    print(f"{'latency p99, concurrency 1':34}{'':>12}{figures.http_percentile(99) * 1000:>10.1f}ms")
    print(
        f"{'images/s, batch/concurrency 8':34}{figures.median('throughput'):>12.1f}"
        f"{figures.median('http_throughput'):>12.1f}{np.median(throughput_ratios):>8.2f}"
        f"{f'({min(throughput_ratios):.2f}-{max(throughput_ratios):.2f})':>13}{'>= ' + str(THROUGHPUT_TARGET):>9}"
        f"{figures.median('block_throughput'):>13.1f}"
    )
    print_memory(memory_started, memory_after)


if __name__ == "__main__":
    main()
