"""`serve` as a process: readiness, built-in artifacts, SIGTERM with a request in flight, and dying with gunicorn."""

import http.client
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import psutil
import pytest
from serving_process import (
    POLL_INTERVAL,
    READY_DEADLINE,
    STOP_DEADLINE,
    ServeProcess,
    console_script,
    trained_model_dir,
)

from image_classifier import demo_data, image_ops
from image_classifier.model import artifacts

IMAGE = demo_data.render(2, 40, np.random.default_rng(7))
PNG = image_ops.encode(IMAGE, "PNG")
LOADED = "Model of epoch"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory)


@pytest.fixture
def base_dir(tmp_path, model_dir):
    shutil.copytree(model_dir, tmp_path / "model")
    return tmp_path


def test_ping_answers_only_once_the_model_is_loaded(base_dir):
    """503 (JSON) until a worker holds its model, then 200; also with a timeout shorter than the worker's start:
    gunicorn's timeout starts with the request loop."""
    with ServeProcess(base_dir, SAGEMAKER_MODEL_SERVER_TIMEOUT=1) as server:
        server.wait_until_listening()
        statuses = []
        while not statuses or statuses[-1] != 200:
            ping = server.get("/ping")
            statuses.append(ping.status_code)
            if ping.status_code != 200:
                assert ping.status_code == 503 and "no worker holds its model" in ping.json()["error"]
                assert server.process.poll() is None
                time.sleep(POLL_INTERVAL)
        assert ping.content == b""
        assert LOADED in server.log
        assert "WORKER TIMEOUT" not in server.log
    print(f"/ping answered 503 {len(statuses) - 1} times while the model loaded")


def test_builtin_algorithm_artifacts_load_and_predict(base_dir):
    for ours in (artifacts.CLASSES_FILE, "preprocessing.json"):
        (base_dir / "model" / ours).unlink()
    assert sorted(path.name for path in (base_dir / "model").iterdir()) == [
        "image-classification-0001.params",
        "image-classification-symbol.json",
        "model-shapes.json",
    ]
    with ServeProcess(base_dir) as server:
        server.wait_until_ready()
        response = server.post(PNG, "image/png", **{"X-Amzn-SageMaker-Custom-Attributes": "top_k=2"})
        assert response.status_code == 200, response.text
    squashed = mx.image.imresize(mx.nd.array(IMAGE, dtype=np.uint8), 32, 32, interp=1).asnumpy()  # as training resizes
    squashed = squashed.astype(np.float32).transpose(2, 0, 1)
    expected = artifacts.load(base_dir / "model")(mx.nd.array(squashed[None])).asnumpy()[0]
    result = response.json()
    assert np.abs(np.array(result["prediction"]) - expected).max() < 1e-5
    assert [item["label"] for item in result["top_k"]] == [str(i) for i in np.argsort(-expected)[:2]]


def test_sigterm_finishes_the_request_in_flight_then_exits_zero(base_dir):
    with ServeProcess(base_dir, SAGEMAKER_MODEL_SERVER_WORKERS=2) as server:
        server.wait_until_ready()
        assert len(server.worker_pids()) == 2
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.putrequest("POST", "/invocations")
        connection.putheader("Content-Type", "image/png")
        connection.putheader("Content-Length", str(len(PNG)))
        connection.endheaders()
        connection.send(PNG[:100])  # a slow client: the request is in flight
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.wait_for_log("Stopping: nginx finishes the requests it holds")
        connection.send(PNG[100:])
        response = connection.getresponse()
        assert response.status == 200
        assert len(json.loads(response.read())) == len(demo_data.CLASS_NAMES)
        assert server.process.wait(timeout=STOP_DEADLINE) == 0
        assert time.monotonic() - signalled < 30  # SageMaker's SIGKILL comes 30 s after SIGTERM


def test_a_dead_worker_is_replaced_but_a_dead_gunicorn_ends_serve(base_dir):
    with ServeProcess(base_dir) as server:
        server.wait_until_ready()
        (worker,) = server.worker_pids()
        psutil.Process(worker).kill()
        server.wait_until_ready()
        assert server.post(PNG, "image/png").status_code == 200
        assert server.worker_pids() != [worker]
        arbiter = server.gunicorn()
        workers = arbiter.children()
        arbiter.kill()
        assert server.process.wait(timeout=STOP_DEADLINE) == 128 + signal.SIGKILL
        _gone, alive = psutil.wait_procs(workers, timeout=STOP_DEADLINE)
        assert not alive
        assert "gunicorn exited with signal 9" in server.log


def test_the_supervisor_loads_neither_mxnet_nor_numpy(base_dir):
    """MXNet stays resident once loaded (about 200 MB): only the workers, and the start-up checks' child, load it."""
    with ServeProcess(base_dir) as server:
        server.wait_until_ready()
        libraries = {Path(mapped.path).name for mapped in psutil.Process(server.process.pid).memory_maps()}
        worker_libraries = {Path(mapped.path).name for mapped in psutil.Process(server.worker_pids()[0]).memory_maps()}
    assert "libmxnet.so" in worker_libraries
    assert not {name for name in libraries if name.startswith(("libmxnet", "_multiarray_umath"))}


def test_serve_refuses_to_start_without_a_model(tmp_path):
    (tmp_path / "model").mkdir()
    result = subprocess.run(
        [console_script("serve")],
        env={"SAGEMAKER_BASE_DIR": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "serve cannot start: The model directory" in result.stdout
    missing = "image-classification-symbol.json, model-shapes.json, image-classification-NNNN.params"
    assert f"lacks {missing}" in result.stdout


def test_a_model_that_cannot_load_stops_serve_with_the_reason(base_dir):
    params = base_dir / "model" / "image-classification-0001.params"
    params.write_bytes(params.read_bytes()[:1000])
    with ServeProcess(base_dir) as server:
        assert server.process.wait(timeout=READY_DEADLINE) != 0
        assert "Worker failed to boot" in server.log and "gunicorn exited with code 3" in server.log
