"""A multi-model endpoint's management API in one worker, with a fake model loader: how it answers models whose
files change under it. tests/integration/test_serving_multi_model.py runs the real thing with several workers."""

import shutil

import pytest
from flask import Response

from image_classifier.serving import app as serving_app
from image_classifier.serving.predictor import check_model_dir
from image_classifier.serving.registry import Registry
from image_classifier.serving.runtime import RUNTIME_DIR_ENV
from image_classifier.serving.settings import Settings


def fake_model_endpoint(model_dir, settings, ctx, predictor=None):
    """What model_endpoint does with a directory, without MXNet: the same checks, an answer naming the model."""
    check_model_dir(model_dir)
    return lambda: Response(model_dir.name, mimetype="text/plain")


def _model_dir(path):
    path.mkdir(parents=True)
    for name in ("image-classification-symbol.json", "model-shapes.json", "image-classification-0001.params"):
        (path / name).write_text("{}")
    return path


@pytest.fixture
def workers(tmp_path, monkeypatch):
    """Two workers' apps sharing one registry, as gunicorn's workers do."""
    (tmp_path / "runtime" / "models").mkdir(parents=True)
    monkeypatch.setenv(RUNTIME_DIR_ENV, str(tmp_path / "runtime"))
    monkeypatch.setattr(serving_app, "model_endpoint", fake_model_endpoint)
    return [serving_app.create_app(Settings(multi_model=True)).test_client() for _ in range(2)]


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
