"""A multi-model endpoint (SAGEMAKER_MULTI_MODEL=true) with two workers, called as SageMaker calls it: load,
list with pagination, describe, invoke with the target-model header, unload, reload; three models of different
networks, classes and image sizes, one with its own inference code; every worker answers for every model and
lets go of it before its unload answers; a model whose directory is gone; the memory budget's 507; a flooded
model beside a quiet one. A request goes to one chosen worker by stopping the others (SIGSTOP) while it is
sent: a stopped worker accepts no connection, so the one left takes it."""

import json
import shutil
import signal
import statistics
import threading
import time
from contextlib import contextmanager

import mxnet as mx
import numpy as np
import psutil
import pytest
import requests
from serving_process import ServeProcess

from image_classifier import demo_data, image_ops
from image_classifier.model import artifacts, networks
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.serving.app import create_app
from image_classifier.serving.predictor import Predictor
from image_classifier.serving.settings import Settings

ANIMALS = {0: "cat", 1: "dog", 2: "owl"}
FRUIT = {0: "apple", 1: "pear", 2: "plum", 3: "fig", 4: "kiwi"}
SHAPES = {0: "circle", 1: "square"}
INFERENCE_CODE = """import json


def output_fn(prediction, accept):
    return json.dumps({"best": int(prediction.argmax()), "of": len(prediction)}), "application/json"
"""
REQUESTS_PER_WORKER = 5
TRAFFIC_REQUESTS = 200  # per client, at most: each stops at its first request sent after the unload
TOP_K = "top_k=2"
FLOOD_CLIENTS = 32  # concurrent clients of the busy model: twice a worker's request threads
FLOOD_SECONDS = 4  # of the quiet model's requests, one after another, while the busy one is flooded


def export_model(model_dir, class_names, image_shape, seed, num_layers=20):
    """A model directory as `train` writes it: an untrained CIFAR ResNet with its own classes and input size."""
    mx.random.seed(seed)
    served = networks.with_probabilities(networks.build(num_layers, len(class_names)), False)
    served.hybridize()
    served(mx.nd.zeros((1, *image_shape)))
    artifacts.save_epoch(served, model_dir, 1)
    artifacts.write_metadata(model_dir, Preprocessing.for_training(image_shape, None), class_names)
    return model_dir


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    dirs = {
        "animals": export_model(root / "animals" / "model", ANIMALS, (3, 16, 16), seed=1),
        "fruit": export_model(root / "fruit" / "model", FRUIT, (3, 24, 24), seed=2),
        "shapes": export_model(root / "shapes" / "model", SHAPES, (3, 20, 20), seed=3, num_layers=32),
    }
    (dirs["shapes"] / "code").mkdir()
    (dirs["shapes"] / "code" / "inference.py").write_text(INFERENCE_CODE)
    return dirs


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return [image_ops.encode(demo_data.render(label, 32, rng), "PNG") for label in range(3)]


def answers_alone(model_dir, images, monkeypatch):
    """What the model answers served alone (/invocations of an ordinary endpoint), per image."""
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(model_dir.parent))
    client = create_app(Settings(), Predictor.load(model_dir, mx.cpu())).test_client()
    headers = {"Content-Type": "image/png", "X-Amzn-SageMaker-Custom-Attributes": TOP_K}
    return [client.post("/invocations", data=image, headers=headers).get_json() for image in images]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base_dir = tmp_path_factory.mktemp("endpoint")
    with ServeProcess(base_dir, SAGEMAKER_MULTI_MODEL="true", SAGEMAKER_MODEL_SERVER_WORKERS=2) as process:
        process.wait_until_ready()
        assert len(process.worker_pids()) == 2
        yield process


@contextmanager
def only(server, worker):
    """Requests sent in the block reach gunicorn worker ``worker`` alone."""
    others = [psutil.Process(pid) for pid in server.worker_pids() if pid != worker]
    for other in others:
        other.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            other.send_signal(signal.SIGCONT)


def call(server, method, path, **kwargs):
    return requests.request(method, server.url + path, timeout=60, **kwargs)


def load(server, name, url):
    return call(server, "POST", "/models", json={"model_name": name, "url": str(url)})


def invoke(server, name, image):
    headers = {
        "Content-Type": "image/png",
        "X-Amzn-SageMaker-Custom-Attributes": TOP_K,
        "X-Amzn-SageMaker-Target-Model": f"{name}.tar.gz",
    }
    return call(server, "POST", f"/models/{name}/invoke", data=image, headers=headers)


def test_models_answers_at_start_with_none_loaded(server):
    assert server.get("/models").json() == {"models": []}


def test_every_worker_answers_each_model_as_it_answers_alone_until_it_is_unloaded(
    server, model_dirs, images, monkeypatch
):
    expected = {name: answers_alone(model_dir, images, monkeypatch) for name, model_dir in model_dirs.items()}
    assert expected["animals"][0]["top_k"][0]["label"] in ANIMALS.values()
    assert expected["fruit"][0]["top_k"][0]["label"] in FRUIT.values()
    assert expected["shapes"][0]["of"] == len(SHAPES)  # through its own output_fn
    first, second = server.worker_pids()
    with only(server, first):
        for name, model_dir in model_dirs.items():
            response = load(server, name, model_dir)
            assert response.status_code == 200, response.text
    for worker in (second, first):  # the second worker has never seen a load
        with only(server, worker):
            for name in model_dirs:
                for _ in range(REQUESTS_PER_WORKER):
                    for image, answer in zip(images, expected[name], strict=True):
                        response = invoke(server, name, image)
                        assert response.status_code == 200, response.text
                        assert response.json() == answer
    for name in model_dirs:
        for worker in (first, second):
            assert f"Invoking model '{name}' in worker {worker} (X-Amzn-SageMaker-Target-Model: {name}.tar.gz)" in (
                server.log
            )
        assert f"Model '{name}' from {model_dirs[name]} loaded into worker {second} on demand" in server.log

    log_start = len(server.log)
    assert call(server, "DELETE", "/models/shapes").status_code == 200
    unloads = server.log[log_start:]  # the workers' lines in the order they wrote them, the DELETE's last
    assert "Model 'shapes' unloaded from every worker" in unloads
    for worker in (first, second):  # each let go before the DELETE answered, having been asked nothing since
        released = unloads.find(f"Model 'shapes' unloaded from worker {worker}")
        assert 0 <= released < unloads.index("Model 'shapes' unloaded from every worker")

    assert call(server, "DELETE", "/models/animals").status_code == 200
    with only(server, second):  # loaded again, another model under the name
        assert load(server, "animals", model_dirs["fruit"]).status_code == 200
    with only(server, first):  # it held the old model: it must not answer with it
        assert invoke(server, "animals", images[1]).json() == expected["fruit"][1]

    assert call(server, "DELETE", "/models/animals").status_code == 200
    for worker in (first, second):
        with only(server, worker):
            for path, method in (("/models/animals/invoke", "POST"), ("/models/animals", "GET")):
                response = call(server, method, path, data=images[0], headers={"Content-Type": "image/png"})
                assert response.status_code == 404
                assert response.text.count("\n") == 1
                assert response.json() == {"error": "Model 'animals' is not loaded; load it with POST /models"}
            assert invoke(server, "fruit", images[0]).json() == expected["fruit"][0]
    assert f"Model 'animals' unloaded from worker {first}" in server.log
    assert call(server, "DELETE", "/models/fruit").status_code == 200
    assert server.get("/models").json() == {"models": []}


def test_list_pages_and_describe(server, model_dirs):
    names = ["c", "a", "b"]
    for name in names:
        assert load(server, name, model_dirs["animals"]).status_code == 200
    try:
        described = {name: {"modelName": name, "modelUrl": str(model_dirs["animals"])} for name in names}
        first = server.get("/models?limit=2").json()
        assert first == {"models": [described["a"], described["b"]], "nextPageToken": "2"}
        rest = server.get(f"/models?limit=2&next_page_token={first['nextPageToken']}").json()
        assert rest == {"models": [described["c"]]}
        assert server.get("/models").json() == {"models": [described[name] for name in sorted(names)]}
        assert server.get("/models/b").json() == described["b"]
        for query in ("limit=0", "limit=x", "next_page_token=-1"):
            response = server.get(f"/models?{query}")
            assert response.status_code == 400 and query.split("=")[0] in response.json()["error"]
    finally:
        for name in names:
            call(server, "DELETE", f"/models/{name}")


def test_refusals(server, model_dirs, tmp_path, images):
    assert load(server, "animals", model_dirs["animals"]).status_code == 200
    try:
        conflict = load(server, "animals", model_dirs["fruit"])
        assert conflict.status_code == 409 and "already loaded" in conflict.json()["error"]

        missing = load(server, "ghost", tmp_path / "nowhere")
        assert missing.status_code == 404 and str(tmp_path / "nowhere") in missing.json()["error"]

        (tmp_path / "empty").mkdir()
        not_a_model = load(server, "empty", tmp_path / "empty")
        assert not_a_model.status_code == 400
        assert artifacts.SYMBOL_FILE in not_a_model.json()["error"]

        broken = tmp_path / "broken"
        shutil.copytree(model_dirs["animals"], broken)
        (params,) = broken.glob("*.params")
        params.write_bytes(params.read_bytes()[:100])
        unloadable = load(server, "broken", broken)
        assert unloadable.status_code == 400
        message = unloadable.json()["error"]
        assert "is not a model MXNet can load" in message and "Invalid NDArray file format" in message

        for body in (b"not json", json.dumps({"url": str(model_dirs["fruit"])}).encode()):
            bad = call(server, "POST", "/models", data=body, headers={"Content-Type": "application/json"})
            assert bad.status_code == 400

        plain = server.post(images[0], "image/png")
        assert plain.status_code == 400 and "/models/NAME/invoke" in plain.json()["error"]

        assert call(server, "DELETE", "/models/ghost").status_code == 404
        assert server.get("/models").json()["models"] == [
            {"modelName": "animals", "modelUrl": str(model_dirs["animals"])}
        ]
    finally:
        call(server, "DELETE", "/models/animals")


def test_unloading_during_traffic_answers_each_request_200_or_404_and_then_only_404(server, model_dirs, images):
    assert load(server, "busy", model_dirs["fruit"]).status_code == 200
    statuses, unloaded = [], threading.Event()

    def client():
        for _ in range(TRAFFIC_REQUESTS):
            after_unload = unloaded.is_set()
            status = invoke(server, "busy", images[0]).status_code
            statuses.append((after_unload, status))
            if after_unload:
                return

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 60
    while not any(status == 200 for _, status in statuses) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert call(server, "DELETE", "/models/busy").status_code == 200
    unloaded.set()
    for thread in clients:
        thread.join(timeout=120)
    assert {status for _, status in statuses} <= {200, 404}
    assert any(status == 200 for _, status in statuses)
    assert [status for after_unload, status in statuses if after_unload] == [404] * len(clients)


def test_a_replaced_worker_serves_the_loaded_models_on_demand(server, model_dirs, images, monkeypatch):
    expected = answers_alone(model_dirs["animals"], images, monkeypatch)
    assert load(server, "animals", model_dirs["animals"]).status_code == 200
    try:
        killed, survivor = server.worker_pids()
        psutil.Process(killed).kill()
        deadline = time.monotonic() + 60
        while (len(server.worker_pids()) < 2 or killed in server.worker_pids()) and time.monotonic() < deadline:
            time.sleep(0.1)
        (replacement,) = set(server.worker_pids()) - {survivor}
        with only(server, replacement):  # it starts with no model: it loads this one from the registry
            assert invoke(server, "animals", images[2]).json() == expected[2]
        assert f"Model 'animals' from {model_dirs['animals']} loaded into worker {replacement} on demand" in server.log
    finally:
        call(server, "DELETE", "/models/animals")


def test_a_model_whose_directory_is_gone_is_a_404_even_from_a_worker_that_never_loaded_it(
    server, model_dirs, images, tmp_path
):
    gone = tmp_path / "gone"
    shutil.copytree(model_dirs["fruit"], gone)
    first, second = server.worker_pids()
    with only(server, first):
        assert load(server, "gone", gone).status_code == 200
    shutil.rmtree(gone)
    with only(server, second):
        response = invoke(server, "gone", images[0])
    assert response.status_code == 404
    assert response.json() == {
        "error": f"Model 'gone' is not loaded any more: its directory {gone} is gone; load it again with POST /models"
    }
    assert server.get("/models").json() == {"models": []}


def test_a_load_past_the_memory_budget_is_a_507_until_another_is_unloaded(tmp_path, model_dirs, images):
    # A CIFAR ResNet-20 at 16 or 24 px counts about 23 MB in 2 workers (model_memory.py): one fits in 40 MB,
    # two do not.
    settings = {"SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_MODEL_SERVER_WORKERS": 2}
    with ServeProcess(tmp_path, IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB=40, **settings) as budgeted:
        budgeted.wait_until_ready()
        assert load(budgeted, "animals", model_dirs["animals"]).status_code == 200
        refused = load(budgeted, "fruit", model_dirs["fruit"])
        assert refused.status_code == 507
        assert refused.text.count("\n") == 1
        message = refused.json()["error"]
        assert message.startswith("Model 'fruit' needs about ")
        assert "of parameters and its activations, x 2 workers)" in message
        assert "of the 40 MB budget (IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB) are in use" in message
        assert [model["modelName"] for model in budgeted.get("/models").json()["models"]] == ["animals"]
        assert invoke(budgeted, "animals", images[0]).status_code == 200
        assert call(budgeted, "DELETE", "/models/animals").status_code == 200
        assert load(budgeted, "fruit", model_dirs["fruit"]).status_code == 200


def test_a_flooded_model_does_not_hold_up_another(server, tmp_path):
    """Each model has its own queue in each worker (its own dynamic batching): a request for a quiet model waits
    for a request thread, then runs beside the busy model's passes, not behind the requests queued for it."""
    shape = (3, 64, 64)  # passes long enough that a queue behind them shows
    for name, seed in (("busy", 4), ("quiet", 5)):
        assert load(server, name, export_model(tmp_path / name, FRUIT, shape, seed)).status_code == 200
    image = image_ops.encode(demo_data.render(0, 64, np.random.default_rng(0)), "PNG")
    for _ in range(4):  # loaded into both workers
        for name in ("busy", "quiet"):
            assert invoke(server, name, image).status_code == 200
    sent = {"busy": [], "quiet": []}  # (sent, answered, status) per request
    flooding = threading.Event()

    def client(name, session):
        started = time.monotonic()
        status = session.post(
            f"{server.url}/models/{name}/invoke", data=image, headers={"Content-Type": "image/png"}, timeout=60
        ).status_code
        sent[name].append((started, time.monotonic(), status))

    def flood():
        with requests.Session() as session:
            while not flooding.is_set():
                client("busy", session)

    clients = [threading.Thread(target=flood) for _ in range(FLOOD_CLIENTS)]
    for thread in clients:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(sent["busy"]) < FLOOD_CLIENTS and time.monotonic() < deadline:  # the flood is on
            time.sleep(0.05)
        with requests.Session() as session:
            end = time.monotonic() + FLOOD_SECONDS
            while time.monotonic() < end:
                client("quiet", session)
    finally:
        flooding.set()
        for thread in clients:
            thread.join(timeout=120)
        for name in ("busy", "quiet"):
            call(server, "DELETE", f"/models/{name}")
    assert {status for requests_sent in sent.values() for *_, status in requests_sent} == {200}
    during = [(started, answered) for started, answered, _ in sent["busy"] if started >= sent["quiet"][0][0]]
    quiet = [(started, answered) for started, answered, _ in sent["quiet"]]
    assert len(quiet) >= 3 and len(during) > FLOOD_CLIENTS, (len(quiet), len(during))
    overtaken = [sum(1 for a, b in during if a < started and b > answered) for started, answered in quiet]
    assert statistics.median(overtaken) >= 1, overtaken  # not queued behind every busy request sent before it
    assert max(answered - started for started, answered in quiet) < FLOOD_SECONDS  # none waits out the flood
