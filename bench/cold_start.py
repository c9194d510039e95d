"""Cold start: from `docker run IMAGE serve` to the first answered /invocations, per network.

    python bench/cold_start.py [--image image-classifier:cpu] [--networks resnet18_v1,resnet50_v1,mobilenetv3_large]
                               [--precisions float32,int8] [--rounds 3] [--port 8097]

Exports each network untrained (weights do not change the time) at 3x224x224 with 4 classes into a model
directory of its own, with its int8 model (quantize.py's export_quantized), then, round after round, network
after network and precision after precision (alternating, so that other load on the machine weighs on all
alike), runs `docker run --rm --network host -e IMAGE_CLASSIFIER_PRECISION=P IMAGE serve` on it and, from the
moment `docker run` is called, asks /ping and posts one 224x224 JPEG to /invocations every 50 ms. Prints one
table: seconds to the first 200 from /ping and to the first answered /invocations (median of the rounds,
lowest and highest beside it), and how often MXNet's "Subgraph backend MKLDNN is activated" line appeared in
one start.
SageMaker's scale-out and serverless endpoints wait on exactly this time.
"""

import argparse
import http.client
import io
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image
from quantize import export_quantized

from image_classifier import demo_data

IMAGE_SHAPE = (3, 224, 224)
NUM_CLASSES = 4
POLL_SECONDS = 0.05
START_TIMEOUT = 300


def jpeg():
    image = demo_data.render(0, IMAGE_SHAPE[1], np.random.default_rng(0))
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=90)
    return out.getvalue()


def status(port, method, path, body=None):
    """The status of one request, or None when nothing answers yet."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "image/jpeg"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def one_start(image, model_dir, port, body, precision):
    """(seconds to /ping 200, seconds to the first answered /invocations, MKLDNN lines) of one cold start."""
    name = f"cold-start-{uuid.uuid4().hex[:8]}"
    command = ["docker", "run", "--rm", "--name", name, "--network", "host", "-e", f"SAGEMAKER_BIND_TO_PORT={port}"]
    command += ["-e", f"IMAGE_CLASSIFIER_PRECISION={precision}"]
    command += ["-v", f"{model_dir}:/opt/ml/model:ro", image, "serve"]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ping = answer = None
    try:
        while answer is None and time.monotonic() - started < START_TIMEOUT and process.poll() is None:
            if ping is None and status(port, "GET", "/ping") == 200:
                ping = time.monotonic() - started
            if ping is not None and status(port, "POST", "/invocations", body) == 200:
                answer = time.monotonic() - started
            time.sleep(POLL_SECONDS)
    finally:
        subprocess.run(["docker", "stop", "--time", "10", name], capture_output=True, timeout=60)
        log = process.communicate(timeout=60)[0]
    if answer is None:
        sys.exit(f"{model_dir.name}: no answer within {START_TIMEOUT} s\n{log}")
    return ping, answer, log.count("Subgraph backend MKLDNN is activated")


def spread(values):
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="image-classifier:cpu")
    parser.add_argument("--networks", default="resnet18_v1,resnet50_v1,mobilenetv3_large")
    parser.add_argument("--precisions", default="float32,int8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8097)
    args = parser.parse_args()
    names, precisions = args.networks.split(","), args.precisions.split(",")
    body = jpeg()
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        model_dirs = {name: Path(tmp) / name for name in names}
        for name, model_dir in model_dirs.items():
            model_dir.mkdir()
            export_quantized(name, model_dir)
            model_dir.chmod(0o755)
        results = {(name, precision): [] for name in names for precision in precisions}
        for _ in range(args.rounds):
            for name, precision in results:
                results[name, precision].append(one_start(args.image, model_dirs[name], args.port, body, precision))
    print(f"{args.image}, {args.rounds} rounds: seconds from `docker run ... serve`, median (lowest-highest)\n")
    print("| network | precision | /ping 200 | first /invocations answered | MKLDNN lines per start |")
    print("|---|---|---|---|---|")
    for (name, precision), runs in results.items():
        pings, answers, lines = zip(*runs)
        print(f"| {name} | {precision} | {spread(pings)} | {spread(answers)} | {max(lines)} |")


if __name__ == "__main__":
    main()
