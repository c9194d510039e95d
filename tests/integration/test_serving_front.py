"""nginx in front of gunicorn: /ping never queues behind model work, idle connections never take the endpoint
off the air, nginx's own refusals, and ``serve`` ending when nginx dies."""

import base64
import json
import resource
import signal
import socket
import threading
import time

import numpy as np
import psutil
import pytest
import requests
from serving_process import STOP_DEADLINE, ServeProcess, trained_model_dir

from image_classifier import demo_data, image_ops

PNG = image_ops.encode(demo_data.render(1, 32, np.random.default_rng(1)), "PNG")
PING_BOUND = 1.0  # seconds: generous against nginx's milliseconds, half of SageMaker's 2 s /ping timeout


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory)


def big_batch(count):
    line = json.dumps({"b64": base64.b64encode(PNG).decode()}) + "\n"
    return (line * count).encode()


def test_ping_is_answered_at_once_while_slow_model_requests_are_in_flight(model_dir):
    """Two request threads, six requests of 300 images each: the threads are busy for seconds, others queue."""
    with ServeProcess(model_dir.parent, IMAGE_CLASSIFIER_REQUEST_THREADS=2, IMAGE_CLASSIFIER_MAX_IMAGES=300) as server:
        server.wait_until_ready()
        body = big_batch(300)
        answers = []

        def invoke():
            answers.append(server.post(body, "application/jsonlines").status_code)

        clients = [threading.Thread(target=invoke) for _ in range(6)]
        for client in clients:
            client.start()
        time.sleep(0.5)  # let them reach the worker
        waits = []
        for _ in range(10):
            started = time.monotonic()
            assert requests.get(server.url + "/ping", timeout=10).status_code == 200
            waits.append(time.monotonic() - started)
        in_flight = sum(client.is_alive() for client in clients)
        for client in clients:
            client.join(timeout=300)
        assert answers == [200] * 6
        assert in_flight > 0, "the model requests ended before the pings: nothing was measured"
        assert max(waits) < PING_BOUND, waits


def raise_file_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= needed


def test_silent_connections_do_not_block_a_valid_request_and_are_closed_after_the_header_deadline(model_dir):
    """2,000 connections that send nothing: more than gunicorn's 1,000 worker_connections."""
    if not raise_file_limit(2_500):
        pytest.skip("this process may not open 2,500 files")
    with ServeProcess(model_dir.parent, IMAGE_CLASSIFIER_HEADER_TIMEOUT=15) as server:
        server.wait_until_ready()
        silent = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(2_000)]
        try:
            started = time.monotonic()
            response = requests.post(
                server.url + "/invocations", data=PNG, headers={"Content-Type": "image/png"}, timeout=10
            )
            assert response.status_code == 200 and time.monotonic() - started < 10
            assert silent[0].recv(1) == b""  # closed at the header deadline, with nothing to answer
        finally:
            for connection in silent:
                connection.close()


def test_a_body_over_the_limit_is_refused_by_nginx(model_dir):
    with ServeProcess(model_dir.parent, SAGEMAKER_MAX_PAYLOAD_IN_MB=1) as server:
        server.wait_until_ready()
        response = server.post(b"\0" * (1024 * 1024 + 1), "image/png")
        assert response.status_code == 413 and response.headers["Server"] == "nginx"
        assert "larger than SAGEMAKER_MAX_PAYLOAD_IN_MB (1 MB)" in response.json()["error"]


def test_serve_ends_when_nginx_dies_and_stops_gunicorn(model_dir):
    with ServeProcess(model_dir.parent) as server:
        server.wait_until_ready()
        gunicorn = [server.gunicorn(), *server.gunicorn().children()]
        server.nginx().kill()
        assert server.process.wait(timeout=STOP_DEADLINE) == 128 + signal.SIGKILL
        _gone, alive = psutil.wait_procs(gunicorn, timeout=STOP_DEADLINE)
        assert not alive
        assert "nginx exited with signal 9" in server.log
