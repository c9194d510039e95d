"""Asynchronous inference's large bodies: with SAGEMAKER_MAX_PAYLOAD_IN_MB=0 and SAGEMAKER_MODEL_SERVER_TIMEOUT=3600,
a JSON Lines or RecordIO body far larger than the default payload limit is answered whole, image for image, while
the worker's memory stays far below the body's size (nginx holds the body on disk, the app reads it in pieces)."""

import base64
import io
import json
import threading

import mxnet as mx
import numpy as np
import psutil
import pytest
import requests
from PIL import Image
from serving_process import ServeProcess, trained_model_dir

MB = 1024 * 1024
BODY_MB = 200
CLIENT_TIMEOUT = 600  # seconds: tens on a quiet machine; SAGEMAKER_MODEL_SERVER_TIMEOUT=3600 is the server's
RSS_GROWTH_MB = 80  # the worker's bound: pieces, a batch of decoded images, the answers' probabilities


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory)


def noise_png():
    """A 512x512 PNG of noise: about 0.75 MB that PNG cannot compress."""
    pixels = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def recordio_body(tmp_path, image, count):
    writer = mx.recordio.MXRecordIO(str(tmp_path / "body.rec"), "w")
    for _ in range(count):
        writer.write(image)
    writer.close()
    return (tmp_path / "body.rec").read_bytes()


def jsonlines_body(image, count):
    return (json.dumps({"b64": base64.b64encode(image).decode()}).encode() + b"\n") * count


class PeakRss:
    """The largest resident set of ``process`` while the block runs, sampled every 20 ms."""

    def __init__(self, process):
        self.process, self.peak, self._done = process, 0, threading.Event()
        self._sampler = threading.Thread(target=self._sample)

    def _sample(self):
        while not self._done.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self._sampler.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._sampler.join()


@pytest.mark.parametrize("content_type", ["application/x-recordio", "application/jsonlines"])
def test_a_large_body_is_answered_whole_with_the_workers_memory_bounded(model_dir, tmp_path, content_type):
    image = noise_png()
    if content_type == "application/x-recordio":
        count = BODY_MB * MB // len(image)
        body = recordio_body(tmp_path, image, count)
    else:
        count = BODY_MB * MB * 3 // 4 // len(image)
        body = jsonlines_body(image, count)
    assert len(body) > (BODY_MB - 5) * MB
    settings = dict(
        SAGEMAKER_MAX_PAYLOAD_IN_MB=0, SAGEMAKER_MODEL_SERVER_TIMEOUT=3600, SAGEMAKER_MODEL_SERVER_WORKERS=1
    )
    with ServeProcess(model_dir.parent, **settings) as server:
        server.wait_until_ready()
        (worker_pid,) = server.worker_pids()
        worker = psutil.Process(worker_pid)
        assert server.post(image, "image/png").status_code == 200  # the model's first pass: its memory, before
        baseline = worker.memory_info().rss
        with PeakRss(worker) as rss:
            response = requests.post(
                server.url + "/invocations",
                data=body,
                headers={"Content-Type": content_type, "Accept": "application/jsonlines"},
                timeout=CLIENT_TIMEOUT,
            )
        assert response.status_code == 200, response.text[:500]
        answers = [json.loads(line)["prediction"] for line in response.text.splitlines()]
        assert len(answers) == count and all(len(answer) == 4 for answer in answers)
        assert np.allclose(answers[0], answers[-1], atol=1e-5)  # the same image: the same answer, first to last
        assert (rss.peak - baseline) / MB < RSS_GROWTH_MB, (rss.peak - baseline) / MB
        broken = b"not json\n" + body
        refused = server.post(broken, content_type if content_type == "application/jsonlines" else "image/png")
        assert refused.status_code in (400, 413) and refused.headers["Content-Type"] == "application/json"
