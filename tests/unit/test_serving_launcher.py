"""The launcher hands its worker plan to gunicorn through the variables a user would set."""

import os
import subprocess
import sys

from image_classifier.serving.launcher import gunicorn_environ
from image_classifier.serving.workers import WorkerPlan


def test_plan_reaches_gunicorn_and_a_users_thread_count_wins():
    plan = WorkerPlan(workers=3, model_threads=2, dynamic_batch=8)
    assert gunicorn_environ({"PATH": "/bin"}, plan) == {
        "PATH": "/bin",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
        "OMP_NUM_THREADS": "2",
        "IMAGE_CLASSIFIER_DYNAMIC_BATCH": "8",
        "MXNET_CPU_WORKER_NTHREADS": "2",
    }
    assert gunicorn_environ({"OMP_NUM_THREADS": "7"}, plan)["OMP_NUM_THREADS"] == "7"
    assert gunicorn_environ({"IMAGE_CLASSIFIER_DYNAMIC_BATCH": "1"}, plan)["IMAGE_CLASSIFIER_DYNAMIC_BATCH"] == "1"


# In a worker's environment: one long operation on MXNet's engine (a forward pass runs as one bulked
# segment), then a resize as serving does it; prints how long the resize took and how long the operation did.
RESIZE_BESIDE_A_PASS = """
import time
import mxnet as mx
import numpy as np
from image_classifier import image_ops
image = np.zeros((375, 500, 3), np.uint8)
image_ops.resize(image, 224, 224)
matrix = mx.nd.ones((2500, 2500))
matrix.wait_to_read()
started = time.perf_counter()
product = mx.nd.dot(matrix, matrix)
image_ops.resize(image, 224, 224)
resized = time.perf_counter() - started
product.wait_to_read()
print(resized, time.perf_counter() - started)
"""


def test_a_resize_does_not_queue_behind_a_running_forward_pass():
    environ = gunicorn_environ(os.environ, WorkerPlan(workers=1, model_threads=1, dynamic_batch=8))
    result = subprocess.run([sys.executable, "-c", RESIZE_BESIDE_A_PASS], env=environ, capture_output=True, text=True)
    resized, chain = map(float, result.stdout.split())
    assert resized < chain / 4, (resized, chain)  # with one engine thread, it came after
