"""serve's start-up checks: a model the container's memory cannot hold is refused by name, with what it needs."""

import os

import pytest

from image_classifier.errors import UserError
from image_classifier.model import artifacts
from image_classifier.serving import model_memory, preflight
from image_classifier.serving.settings import MB, memory_bytes

CONTAINER_BYTES = 2048 * MB  # docker run --memory 2g


def _model_dir(base_dir, params_bytes):
    """A model directory with the files serve checks, its parameters file (sparse) of ``params_bytes``."""
    model_dir = base_dir / "model"
    model_dir.mkdir(parents=True)
    for name in (artifacts.SYMBOL_FILE, "model-shapes.json"):
        (model_dir / name).write_text("{}")
    with open(artifacts.params_path(model_dir, 1), "wb") as params:
        params.truncate(params_bytes)
    return model_dir


@pytest.fixture
def limited(tmp_path, monkeypatch):
    """The start-up checks in a container limited to CONTAINER_BYTES by its cgroup (v2's memory.max)."""
    (tmp_path / "memory.max").write_text(f"{CONTAINER_BYTES}\n")
    monkeypatch.setattr(preflight, "memory_bytes", lambda: memory_bytes((tmp_path / "memory.max",)))
    return dict(os.environ, SAGEMAKER_BASE_DIR=str(tmp_path), SAGEMAKER_MODEL_SERVER_WORKERS="1")


def test_a_model_that_fits_the_containers_memory_starts(tmp_path, limited):
    _model_dir(tmp_path, params_bytes=223 * MB)  # ResNet-152's
    plan, _ = preflight.checked(limited)
    assert plan.workers == 1


def test_a_model_too_large_for_the_containers_memory_is_refused_by_name_with_what_it_needs(tmp_path, limited):
    model_dir = _model_dir(tmp_path, params_bytes=600 * MB)
    needed = model_memory.start_memory_bytes(model_memory.model_bytes(model_dir), workers=1)
    assert needed > CONTAINER_BYTES
    with pytest.raises(UserError) as refused:
        preflight.checked(limited)
    message = str(refused.value)
    assert message.startswith(f"The model {artifacts.params_path(model_dir, 1)} needs about {needed // MB} MB")
    assert "this container has 2048 MB" in message and "\n" not in message


def test_each_worker_needs_its_own_copy(tmp_path, limited):
    _model_dir(tmp_path, params_bytes=300 * MB)
    assert preflight.checked(limited)[0].workers == 1  # fits in 2048 MB with one worker, not with two
    with pytest.raises(UserError, match=r"in each of 2 worker\(s\)"):
        preflight.checked(dict(limited, SAGEMAKER_MODEL_SERVER_WORKERS="2"))
