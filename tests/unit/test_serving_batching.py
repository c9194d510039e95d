"""Requests take turns at the model in the order they arrive, alone or in dynamic batches."""

import io
import threading
import time

import mxnet as mx
import numpy as np
import pytest
from serving_models import export_model

from image_classifier.serving import app as app_module
from image_classifier.serving.app import create_app
from image_classifier.serving.batching import Batcher
from image_classifier.serving.predictor import Predictor
from image_classifier.serving.settings import Settings

IMAGE_SHAPE = (3, 16, 16)
WAIT = 60


def npy(marker):
    buffer = io.BytesIO()
    np.save(buffer, np.full(IMAGE_SHAPE, marker, np.float32))
    return buffer.getvalue()


def wait_until(condition):
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor.load(export_model(tmp_path_factory.mktemp("served") / "model", IMAGE_SHAPE), mx.cpu())


@pytest.mark.parametrize(
    "dynamic_batch, passes",
    [
        (None, [[0], [1], [2], [3], [4], [5], [6], [7], [8]]),  # the default: one request per pass, in turn
        (3, [[0], [1, 2, 3], [4, 5, 6], [7, 8]]),
    ],
)
def test_requests_reach_the_model_in_arrival_order(predictor, monkeypatch, dynamic_batch, passes):
    batchers, seen, entered, release = [], [], threading.Event(), threading.Event()
    forward = predictor.predict

    class RecordingBatcher(Batcher):
        def __init__(self, *args):
            super().__init__(*args)
            batchers.append(self)

    def gated_predict(batch):
        seen.append([int(row[0, 0, 0]) for row in batch])
        entered.set()
        release.wait(WAIT)
        return forward(batch)

    monkeypatch.setattr(app_module, "Batcher", RecordingBatcher)
    monkeypatch.setattr(predictor, "predict", gated_predict)
    client = create_app(Settings(dynamic_batch=dynamic_batch), predictor).test_client()
    statuses = []

    def post(marker):
        response = client.post("/invocations", data=npy(marker), headers={"Content-Type": "application/x-npy"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=(marker,)) for marker in range(9)]
    threads[0].start()
    entered.wait(WAIT)  # the model is busy with request 0; the others queue behind it, one after another
    for marker, thread in enumerate(threads[1:], 1):
        thread.start()
        wait_until(lambda marker=marker: len(batchers[0]._queue) == marker)
    release.set()
    for thread in threads:
        thread.join(WAIT)
    assert statuses == [200] * 9
    assert seen == passes


def test_a_pass_waits_for_requests_being_decoded_but_a_lone_request_never_waits(predictor, monkeypatch):
    monkeypatch.setattr("image_classifier.serving.batching.GATHER_WAIT", 1000)  # only the order can end a wait
    seen, forward = [], predictor.predict
    monkeypatch.setattr(
        predictor, "predict", lambda batch: seen.append([int(row[0, 0, 0]) for row in batch]) or forward(batch)
    )

    batcher = Batcher(predictor, max_images=8)
    lone = threading.Thread(target=batcher.predict, args=(np.full((1, *IMAGE_SHAPE), 9, np.float32),))
    lone.start()
    lone.join(WAIT)
    assert not lone.is_alive() and seen == [[9]]  # nothing was being decoded: it ran at once

    decoded = threading.Event()

    def second_request():
        with batcher.preparing():
            decoded.wait(WAIT)
            batcher.predict(np.full((1, *IMAGE_SHAPE), 1, np.float32))

    threads = [
        threading.Thread(target=second_request),
        threading.Thread(target=batcher.predict, args=(np.full((1, *IMAGE_SHAPE), 0, np.float32),)),
    ]
    threads[0].start()
    wait_until(lambda: batcher._preparing == 1)
    threads[1].start()
    wait_until(lambda: batcher._busy and not batcher._queue)  # request 0 taken; its pass waits for request 1
    decoded.set()
    for thread in threads:
        thread.join(WAIT)
    assert seen == [[9], [0, 1]]


def test_a_lone_request_runs_in_its_own_thread(predictor, monkeypatch):
    threads, forward = [], predictor.predict
    record = threads.append
    monkeypatch.setattr(predictor, "predict", lambda batch: record(threading.current_thread()) or forward(batch))
    batcher = Batcher(predictor, max_images=8)
    batch = np.full((1, *IMAGE_SHAPE), 3, np.float32)
    np.testing.assert_array_equal(batcher.predict(batch), forward(batch))
    assert threads == [threading.current_thread()]


def test_a_failed_pass_fails_its_requests_and_the_next_pass_runs(predictor, monkeypatch):
    entered, release, forward = threading.Event(), threading.Event(), predictor.predict

    def failing_predict(batch):
        if batch[0, 0, 0, 0] == 0:
            entered.set()
            release.wait(WAIT)
            raise RuntimeError("out of memory")
        return forward(batch)

    monkeypatch.setattr(predictor, "predict", failing_predict)
    batcher = Batcher(predictor, max_images=2)
    outcomes = {}

    def request(marker):
        try:
            outcomes[marker] = batcher.predict(np.full((1, *IMAGE_SHAPE), marker, np.float32))
        except RuntimeError as error:
            outcomes[marker] = str(error)

    threads = [threading.Thread(target=request, args=(marker,)) for marker in range(4)]
    threads[0].start()
    entered.wait(WAIT)
    for marker, thread in enumerate(threads[1:], 1):
        thread.start()
        wait_until(lambda marker=marker: len(batcher._queue) == marker)
    release.set()
    for thread in threads:
        thread.join(WAIT)
    assert outcomes[0] == "out of memory"
    for marker in (1, 2, 3):  # passes [1, 2] and [3], after the failed one
        expected = forward(np.full((1, *IMAGE_SHAPE), marker, np.float32))
        np.testing.assert_allclose(outcomes[marker], expected, rtol=1e-5, atol=1e-6)
