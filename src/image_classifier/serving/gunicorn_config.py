"""gunicorn's settings for ``serve``, from the environment the launcher prepared (its worker count included).

gunicorn loads this module in its arbiter, the process that forks the workers: nothing here imports MXNet,
so no MXNet or CUDA state exists before fork. Each worker imports the app, and with it the model, after.
``pre_fork`` gives each new worker the lowest free slot, so that a restarted worker takes over the GPU of
the one it replaces. GUNICORN_CMD_ARGS still overrides anything here (``--access-logfile -``, say).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .. import libraries
from ..logs import configure_logging
from .settings import WORKER_SLOT_ENV, Settings

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

GRACEFUL_TIMEOUT = 25  # seconds to finish requests after SIGTERM; SageMaker sends SIGKILL 30 s after it
KEEPALIVE = 75  # seconds an idle connection stays open, longer than a load balancer's usual 60 s
SHARED_MEMORY = "/dev/shm"

_settings = Settings.from_environ(os.environ)

bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.workers
worker_class = "image_classifier.serving.gunicorn_worker.ServingWorker"  # gthread that gathers requests first
threads = _settings.request_threads
timeout = _settings.timeout
graceful_timeout = GRACEFUL_TIMEOUT
keepalive = KEEPALIVE
control_socket_disable = True  # gunicorn's runtime control socket: not wanted, and shared across instances
worker_tmp_dir = SHARED_MEMORY if os.access(SHARED_MEMORY, os.W_OK) else None  # heartbeat off the disk
proc_name = "image-classifier-serve"


def on_starting(server: Arbiter) -> None:
    configure_logging()


def pre_fork(server: Arbiter, worker: Worker) -> None:
    taken = {other.slot for other in server.WORKERS.values()}
    worker.slot = min(set(range(len(taken) + 1)) - taken)


def post_fork(server: Arbiter, worker: Worker) -> None:
    os.environ[WORKER_SLOT_ENV] = str(worker.slot)
    libraries.import_cv2_or_mark_absent()  # before the worker imports the app, and MXNet with it
