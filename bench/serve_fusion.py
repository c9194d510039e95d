"""Whether `serve` needs MKL-DNN's fusion: sizes 1 and 8 fused (predictor.FUSED_SIZES) against none, over HTTP.

    python bench/serve_fusion.py [--rounds 6] [--requests 64]

Starts two `serve`s on the same untrained ResNet-18 (3x224x224, workers and threads as serve plans them): one
as shipped, one with MXNET_SUBGRAPH_BACKEND=NONE (every size unfused, on the shared weight arrays, which is
what FUSED_SIZES = () would bind). Then, in alternating rounds so that other load weighs on both alike, the
p50 of ``--requests`` requests at concurrency 1 and the images/s at concurrency 8 (serve_latency.py's
clients), and the resident memory of each serve's processes, idle and after the rounds. Fusion costs a fused
copy of the weights per fused size (predictor.py); this measures what it gives.
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from image_classifier.serving.predictor import SUBGRAPH_BACKEND_ENV

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve_latency  # noqa: E402
from serve_latency import MB  # noqa: E402

SIDES = (("fused 1, 8", None), ("unfused", "NONE"))  # (name, MXNET_SUBGRAPH_BACKEND)


def start(base_dir, subgraph_backend):
    """(port, process) of a `serve` started with ``subgraph_backend`` (None: unset, serve's own choice)."""
    os.environ.pop(SUBGRAPH_BACKEND_ENV, None)
    if subgraph_backend:
        os.environ[SUBGRAPH_BACKEND_ENV] = subgraph_backend
    port = serve_latency.free_port()
    try:
        return port, serve_latency.start_serve(base_dir, port, None, 0)
    finally:
        os.environ.pop(SUBGRAPH_BACKEND_ENV, None)


def rss(process):
    return sum(row[1] for row in serve_latency.process_memory(process.pid))


def spread(values, scale=1.0, digits=1):
    return f"{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f}"


def main():
    serve_latency.same_model_threads_as_serve()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="alternations of the two serves")
    parser.add_argument("--requests", type=int, default=64, help="requests per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base_dir:
        model_dir = Path(base_dir) / "model"
        serve_latency.export_untrained(model_dir)
        serves = {}
        try:
            for name, backend in SIDES:  # in the try: one started is stopped when the next fails to start
                serves[name] = start(base_dir, backend)
            idle = {name: rss(process) for name, (_, process) in serves.items()}
            images = serve_latency.jpegs(args.requests)
            for port, _ in serves.values():  # warm-up, not measured
                serve_latency.post_images(port, images[:20], [])
                serve_latency.http_throughput_run(port, images)
            latencies, throughputs = {name: [] for name in serves}, {name: [] for name in serves}
            for _ in range(args.rounds):
                for name, (port, _) in serves.items():
                    latencies[name].append(float(np.median(serve_latency.http_latencies(port, images))))
                for name, (port, _) in serves.items():
                    run = serve_latency.http_throughput_run(port, images * 2)
                    throughputs[name].append(serve_latency.images_per_second(run))
            after = {name: rss(process) for name, (_, process) in serves.items()}
        finally:
            for _, process in serves.values():
                process.terminate()
                process.wait(timeout=60)
    print(
        f"ResNet-18, 3x224x224, {args.rounds} rounds x {args.requests} requests, "
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, load average {os.getloadavg()[0]:.1f}"
    )
    print("| serve | p50 ms, c1 | rounds | images/s, c8 | rounds | RSS idle MB | RSS after MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in serves:
        print(
            f"| {name} | {statistics.median(latencies[name]) * 1000:.1f} | {spread(latencies[name], 1000)} "
            f"| {statistics.median(throughputs[name]):.1f} | {spread(throughputs[name])} "
            f"| {idle[name] / MB:.0f} | {after[name] / MB:.0f} |"
        )
    (fused, _), (unfused, _) = SIDES
    p50_ratios = [b / a for a, b in zip(latencies[fused], latencies[unfused], strict=True)]
    rate_ratios = [b / a for a, b in zip(throughputs[fused], throughputs[unfused], strict=True)]
    print(
        f"unfused / fused, median of the rounds' ratios (range): p50 {statistics.median(p50_ratios):.2f} "
        f"({spread(p50_ratios, digits=2)}), images/s {statistics.median(rate_ratios):.2f} "
        f"({spread(rate_ratios, digits=2)})"
    )


if __name__ == "__main__":
    main()
