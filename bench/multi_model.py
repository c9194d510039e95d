"""What a multi-model endpoint's models cost: load, first invocation, hot latency beside many others, memory.

    python bench/multi_model.py [--models 50] [--copies 3] [--requests 100]

Starts `serve` with SAGEMAKER_MULTI_MODEL=true and one worker on 127.0.0.1 (the memory budget lifted out of
the way). For each network (untrained, 3x224x224, as `train` writes it), one 224x224 JPEG per request, one
request after another:
- load: POST /models, which loads the model into the worker that takes it;
- first invoke: the first POST /models/NAME/invoke after the load;
- hot p50: the median of ``--requests`` invocations with that model alone loaded (of its network), then
  again once ``--models`` models are loaded (the rest CIFAR ResNet-20s at 3x32x32, small in memory);
- memory per model: the worker's growth of resident memory (psutil RSS) over ``--copies`` loads of the
  network (each its own name, invoked once), per load;
- models in 4096 MiB at that measured cost, and how many IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB=4096 admits
  (serving/model_memory.py's estimate, one worker) before its 507.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from serve_latency import jpegs  # noqa: E402
from serving_process import ServeProcess  # noqa: E402

from image_classifier import demo_data  # noqa: E402
from image_classifier.model import artifacts, networks  # noqa: E402
from image_classifier.model.preprocessing import Preprocessing  # noqa: E402
from image_classifier.serving.model_memory import Budget  # noqa: E402
from image_classifier.serving.settings import MB  # noqa: E402

IMAGE_SHAPE = (3, 224, 224)
SMALL_SHAPE = (3, 32, 32)  # the models loaded beside: CIFAR ResNet-20s, for their small memory
NETWORKS = (("ResNet-18", 18, None), ("MobileNet v3 small", 0, "mobilenetv3_small"))  # (name, layers, zoo name)
BUDGET_MB = 4096


def export(model_dir, num_layers, network, image_shape):
    mx.random.seed(0)
    class_names = dict(enumerate(demo_data.CLASS_NAMES))
    net = networks.build(num_layers, len(class_names), network, image_shape)
    served = networks.with_probabilities(net, multi_label=False)
    served.hybridize()
    served(mx.nd.zeros((1, *image_shape)))
    artifacts.save_epoch(served, model_dir, 1)
    artifacts.write_metadata(model_dir, Preprocessing.for_training(image_shape, resize=None), class_names)
    return model_dir


def timed(send):
    started = time.perf_counter()
    response = send()
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


class Endpoint:
    def __init__(self, server, image):
        self.server, self.image, self.session = server, image, requests.Session()
        (worker,) = server.gunicorn().children()
        self.worker = psutil.Process(worker.pid)

    def rss(self):
        return self.worker.memory_info().rss

    def load(self, name, model_dir):
        body = {"model_name": name, "url": str(model_dir)}
        return timed(lambda: self.session.post(f"{self.server.url}/models", json=body, timeout=600))

    def invoke(self, name):
        url = f"{self.server.url}/models/{name}/invoke"
        return timed(lambda: self.session.post(url, data=self.image, headers={"Content-Type": "image/jpeg"}))

    def hot_p50(self, name, count):
        self.invoke(name)
        return statistics.median(self.invoke(name) for _ in range(count))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50, help="models loaded for the second hot p50")
    parser.add_argument("--copies", type=int, default=3, help="loads of each network measured, for its memory")
    parser.add_argument("--requests", type=int, default=100, help="invocations per hot p50")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as root:
        dirs = {name: export(Path(root) / name, layers, zoo, IMAGE_SHAPE) for name, layers, zoo in NETWORKS}
        small = export(Path(root) / "small", 20, None, SMALL_SHAPE)
        settings = {"SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_MODEL_SERVER_WORKERS": 1}
        with ServeProcess(root, IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB=10**6, **settings) as server:
            server.wait_until_ready()
            endpoint = Endpoint(server, jpegs(1)[0])
            for name, model_dir in dirs.items():
                before = endpoint.rss()
                load, first = endpoint.load(name, model_dir), endpoint.invoke(name)
                rows[name] = {"load": load, "first": first, "hot 1": endpoint.hot_p50(name, args.requests)}
                for copy in range(1, args.copies):
                    endpoint.load(f"{name} {copy}", model_dir)
                    endpoint.invoke(f"{name} {copy}")
                rows[name]["memory"] = (endpoint.rss() - before) / args.copies
            for number in range(args.models - len(dirs) * args.copies):
                endpoint.load(f"small {number}", small)
                endpoint.invoke(f"small {number}")
            for name in dirs:
                rows[name]["hot many"] = endpoint.hot_p50(name, args.requests)
        budget = Budget(BUDGET_MB * MB, workers=1)
        for name, model_dir in dirs.items():
            rows[name]["admitted"] = budget.budget_bytes // budget.cost(model_dir)
    print(
        f"| model | load s | first invoke ms | hot p50 ms, 1 model | hot p50 ms, {args.models} models "
        f"| memory per model MiB | models in {BUDGET_MB} MiB, measured | models a {BUDGET_MB} MB budget admits |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['load']:.2f} | {row['first'] * 1000:.1f} | {row['hot 1'] * 1000:.1f} "
            f"| {row['hot many'] * 1000:.1f} | {row['memory'] / MB:.0f} | {int(BUDGET_MB * MB // row['memory'])} "
            f"| {row['admitted']} |"
        )


if __name__ == "__main__":
    main()
