"""gunicorn's settings for ``serve``, from the environment the launcher prepared (its worker count included).

gunicorn listens on a unix socket in the runtime directory, behind nginx (nginx_config.py), which hands it only
whole, well-formed requests: its own request limits are lifted above nginx's, so every refusal is nginx's JSON.
Its stock threaded worker (gthread) serves them. A worker publishes its readiness once its app and model are
loaded, and the arbiter withdraws it when the worker exits (runtime.py): nginx answers /ping from that.

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
from .runtime import RuntimeDir
from .settings import WORKER_SLOT_ENV, Settings

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

GRACEFUL_TIMEOUT = 5  # seconds to finish requests after SIGTERM, which comes once nginx has drained them
SHARED_MEMORY = "/dev/shm"

_settings = Settings.from_environ(os.environ)
_runtime = RuntimeDir.from_environ(os.environ)

bind = [f"unix:{_runtime.socket}"]
umask = 0o000  # the socket: nginx's workers run as nobody when serve runs as root
workers = _settings.workers
worker_class = "gthread"
threads = _settings.request_threads
timeout = _settings.timeout
graceful_timeout = GRACEFUL_TIMEOUT
limit_request_line = 0  # unlimited: nginx's limits come first
limit_request_fields = 32768  # gunicorn's most; nginx's header buffers hold fewer
limit_request_field_size = 0
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
    libraries.before_mxnet()  # before the worker imports the app, and MXNet with it


def post_worker_init(worker: Worker) -> None:
    _runtime.publish_ready(worker.pid)


def child_exit(server: Arbiter, worker: Worker) -> None:
    _runtime.withdraw_ready(worker.pid)
