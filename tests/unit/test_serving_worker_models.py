"""A multi-model endpoint's management API in two workers' apps, with a fake model loader: models whose files
change under them, and the memory budget; models with their own inference code, each its own modules.
tests/integration/test_serving_multi_model.py runs the real thing."""

import os
import shutil
import sys
import threading

import mxnet as mx
import pytest
from flask import Response

from image_classifier.model import artifacts, networks
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.serving import app as serving_app
from image_classifier.serving.handlers import MODULE_PREFIX
from image_classifier.serving.model_memory import (
    MODEL_BASE_BYTES,
    PARAMS_FACTOR,
    Budget,
    activation_bytes,
    served_params_bytes,
)
from image_classifier.serving.predictor import check_model_dir
from image_classifier.serving.registry import Registry
from image_classifier.serving.runtime import RUNTIME_DIR_ENV
from image_classifier.serving.settings import MB, Settings

real_model_endpoint = serving_app.model_endpoint


def fake_model_endpoint(model_dir, settings, ctx, predictor=None, modules=None):
    """What model_endpoint does with a directory, without MXNet: the same checks, an answer naming the model."""
    check_model_dir(model_dir)
    return lambda: Response(model_dir.name, mimetype="text/plain")


def _model_dir(path, params_bytes=2):
    path.mkdir(parents=True)
    for name in ("image-classification-symbol.json", "model-shapes.json"):
        (path / name).write_text("{}")
    (path / "image-classification-0001.params").write_bytes(b"\0" * params_bytes)
    return path


def _workers(tmp_path, monkeypatch, **settings):
    """Two workers' apps sharing one registry, as gunicorn's workers do (in this process: one pid, ready)."""
    (tmp_path / "runtime" / "models").mkdir(parents=True)
    (tmp_path / "runtime" / "workers").mkdir()
    (tmp_path / "runtime" / "workers" / str(os.getpid())).touch()
    monkeypatch.setenv(RUNTIME_DIR_ENV, str(tmp_path / "runtime"))
    monkeypatch.setattr(serving_app, "model_endpoint", fake_model_endpoint)
    settings = Settings(multi_model=True, workers=2, **settings)
    return [serving_app.create_app(settings).test_client() for _ in range(2)]


@pytest.fixture
def workers(tmp_path, monkeypatch):
    return _workers(tmp_path, monkeypatch)


def test_a_model_whose_directory_is_gone_is_a_404_that_drops_it(workers, tmp_path):
    first, second = workers
    model_dir = _model_dir(tmp_path / "models" / "a")
    assert first.post("/models", json={"model_name": "a", "url": str(model_dir)}).status_code == 200
    shutil.rmtree(model_dir)
    answer = second.post("/models/a/invoke", data=b"x", content_type="application/x-image")
    assert answer.status_code == 404
    assert answer.json == {
        "error": f"Model 'a' is not loaded any more: its directory {model_dir} is gone; load it again with POST /models"
    }
    assert first.get("/models").json == {"models": []}
    assert first.get("/models/a").status_code == 404  # the worker that had loaded it dropped it too


def test_a_model_whose_files_are_gone_is_a_404_naming_what_is_missing(workers, tmp_path):
    first, second = workers
    model_dir = _model_dir(tmp_path / "models" / "a")
    first.post("/models", json={"model_name": "a", "url": str(model_dir)})
    (model_dir / "model-shapes.json").unlink()
    answer = second.post("/models/a/invoke", data=b"x", content_type="application/x-image")
    assert answer.status_code == 404
    assert "no longer holds a model this endpoint serves" in answer.json["error"]
    assert "lacks model-shapes.json" in answer.json["error"]
    assert "\n" not in answer.json["error"]
    assert second.get("/models").json == {"models": []}


def test_a_model_loaded_again_under_its_name_is_not_dropped_for_the_old_ones_directory(workers, tmp_path):
    first, second = workers
    old_dir, new_dir = _model_dir(tmp_path / "old"), _model_dir(tmp_path / "new")
    first.post("/models", json={"model_name": "a", "url": str(old_dir)})
    registry = Registry(tmp_path / "runtime" / "models")
    stale = registry.get("a")
    first.delete("/models/a")
    first.post("/models", json={"model_name": "a", "url": str(new_dir)})
    registry.remove_entry(stale)
    assert registry.get("a").url == str(new_dir)
    assert second.post("/models/a/invoke", data=b"x", content_type="application/x-image").get_data() == b"new"


def test_a_load_past_the_memory_budget_is_a_507_and_unloading_frees_the_budget(tmp_path, monkeypatch):
    first, second = _workers(tmp_path, monkeypatch, multi_model_memory_mb=40)
    cost = (MODEL_BASE_BYTES + MB * PARAMS_FACTOR) * 2  # 1 MB of parameters (no symbol) in each of 2 workers
    a, b = (_model_dir(tmp_path / name, params_bytes=MB) for name in ("a", "b"))
    assert first.post("/models", json={"model_name": "a", "url": str(a)}).status_code == 200
    refused = second.post("/models", json={"model_name": "b", "url": str(b)})
    assert refused.status_code == 507
    assert refused.json == {
        "error": f"Model 'b' needs about {cost // MB} MB of memory ({cost // 2 // MB} MB for its 1.0 MB of "
        f"parameters and its activations, x 2 workers), and {cost // MB} MB of the 40 MB budget "
        "(IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB) are in use: unload a model with DELETE /models/NAME, or raise "
        "the budget"
    }
    assert [model["modelName"] for model in second.get("/models").json["models"]] == ["a"]
    assert second.post("/models/a/invoke", data=b"x", content_type="application/x-image").get_data() == b"a"
    assert first.delete("/models/a").status_code == 200
    assert second.post("/models", json={"model_name": "b", "url": str(b)}).status_code == 200


def test_the_budget_is_checked_before_loading(tmp_path, monkeypatch):
    first, _ = _workers(tmp_path, monkeypatch, multi_model_memory_mb=1)
    loaded = []
    monkeypatch.setattr(serving_app, "model_endpoint", lambda model_dir, *rest, **options: loaded.append(model_dir))
    big = _model_dir(tmp_path / "big", params_bytes=MB)
    assert first.post("/models", json={"model_name": "big", "url": str(big)}).status_code == 507
    assert loaded == []


def test_a_model_costs_its_latest_epochs_parameters_times_the_factor_in_each_worker(tmp_path):
    model_dir = _model_dir(tmp_path / "m", params_bytes=100)
    (model_dir / "image-classification-0003.params").write_bytes(b"\0" * 300)
    (model_dir / "image-classification-int8.params").write_bytes(b"\0" * 70)
    assert served_params_bytes(model_dir) == 300
    assert Budget(10**9, workers=3).cost(model_dir) == (MODEL_BASE_BYTES + 300 * PARAMS_FACTOR) * 3
    assert Budget(10**9, workers=1, precision="int8").cost(model_dir) == MODEL_BASE_BYTES + 70 * PARAMS_FACTOR
    assert served_params_bytes(tmp_path / "missing") == 0


def _cifar_resnet(model_dir, side):
    """A CIFAR ResNet-20 (1 MB of parameters) for images of ``side`` pixels, as `train` writes it."""
    served = networks.with_probabilities(networks.build(20, 10), False)
    served.hybridize()
    served(mx.nd.zeros((1, 3, side, side)))
    artifacts.save_epoch(served, model_dir, 1)
    preprocessing = Preprocessing.for_training((3, side, side), None)
    artifacts.write_metadata(model_dir, preprocessing, {index: str(index) for index in range(10)})
    return model_dir


def test_a_models_cost_grows_with_its_images_activations_not_only_its_parameters(tmp_path):
    small, large = _cifar_resnet(tmp_path / "32", 32), _cifar_resnet(tmp_path / "224", 224)
    assert served_params_bytes(small) == served_params_bytes(large)
    assert activation_bytes(large)[0] > 40 * activation_bytes(small)[0] > 0  # (224 / 32) ** 2 = 49
    assert activation_bytes(large)[1] == 0  # every operator of a ResNet is MKL-DNN's
    budget = Budget(10**10, workers=2)
    assert budget.cost(large) > 10 * budget.cost(small)
    assert budget.cost(large) > 2 * 150 * MB  # bench/model_memory.py: 171 MiB in a worker


USER_CODE = """import helpers
from helpers import NAME

ANSWER = {answer!r}


def model_fn(model_dir):
    return ANSWER


def transform_fn(model, body, content_type, accept):
    return f"{{model}} {{ANSWER}} {{helpers.NAME}} {{NAME}}", "text/plain"
"""


def _user_code_model(path, answer):
    """A model directory served through its own code/inference.py and code/helpers.py, which ``answer`` names."""
    (path / "code").mkdir(parents=True)
    (path / "code" / "inference.py").write_text(USER_CODE.format(answer=answer))
    (path / "code" / "helpers.py").write_text(f"NAME = {answer!r}")
    return path


def _model_modules():
    return {name for name in sys.modules if name.startswith(MODULE_PREFIX)}


def test_models_with_their_own_inference_code_each_answer_through_theirs_in_one_worker(tmp_path, monkeypatch):
    worker, _ = _workers(tmp_path, monkeypatch)
    monkeypatch.setattr(serving_app, "model_endpoint", real_model_endpoint)
    modules_before = set(sys.modules)
    for name in ("a", "b"):
        model_dir = _user_code_model(tmp_path / name, name)
        assert worker.post("/models", json={"model_name": name, "url": str(model_dir)}).status_code == 200
    for name in ("a", "b", "a"):
        answer = worker.post(f"/models/{name}/invoke", data=b"x", content_type="application/x-image")
        assert answer.get_data(as_text=True) == f"{name} {name} {name} {name}"
    assert {"helpers", "inference"}.isdisjoint(set(sys.modules) - modules_before)  # each model's under its own name
    held = _model_modules()
    assert worker.delete("/models/a").status_code == 200
    assert worker.post("/models/b/invoke", data=b"x", content_type="application/x-image").get_data() == b"b b b b"
    assert len(_model_modules()) < len(held)  # a's modules are gone
    assert worker.delete("/models/b").status_code == 200
    assert _model_modules() == set()  # and b's


def test_an_unload_answers_once_the_invocations_in_flight_have_finished(workers, tmp_path, monkeypatch):
    first, _ = workers
    started, finish = threading.Event(), threading.Event()

    def slow_endpoint(model_dir, *args, **options):
        def invoke():
            started.set()
            finish.wait(30)
            return Response("done", mimetype="text/plain")

        return invoke

    monkeypatch.setattr(serving_app, "model_endpoint", slow_endpoint)
    first.post("/models", json={"model_name": "a", "url": str(_model_dir(tmp_path / "a"))})
    answers = {}

    def send(key, method, path):
        answers[key] = getattr(first.application.test_client(), method)(path)

    invocation = threading.Thread(target=send, args=("invoke", "post", "/models/a/invoke"))
    invocation.start()
    assert started.wait(30)
    unload = threading.Thread(target=send, args=("delete", "delete", "/models/a"))
    unload.start()
    unload.join(timeout=1)
    assert unload.is_alive()  # the invocation in flight holds it
    assert first.post("/models/a/invoke").status_code == 404  # but no new one starts
    finish.set()
    for thread in (invocation, unload):
        thread.join(timeout=30)
    assert answers["invoke"].get_data() == b"done"
    assert answers["delete"].status_code == 200
    assert first.get("/models").json == {"models": []}
