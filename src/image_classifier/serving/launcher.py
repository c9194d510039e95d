"""``serve``: checks the settings, the model and nginx, plans the workers, then runs gunicorn behind nginx and
supervises both.

The checks that need MXNet (and the worker plan, which needs its GPU count) run in a child process that exits
(preflight.py): this process, alive as long as the endpoint, never loads MXNet or numpy.
The launcher may be PID 1 in the container, where a signal without a handler is ignored, so it handles
SIGTERM (SageMaker's scale-in, ``docker stop``) and SIGINT before anything slow (the checks' child takes
seconds to import MXNet): until the children run, they just end ``serve``; after, they drain both: nginx
first (SIGQUIT: it stops accepting and finishes the requests it holds, which gunicorn is still there to answer, within
nginx_config.DRAIN_TIMEOUT), then gunicorn (SIGTERM), all within SageMaker's 30 s. When either child exits for
any other reason, ``serve`` stops the other and exits with the dead one's code, so that the platform sees a dead
container rather than one that no longer answers. gunicorn starts first, so that its socket exists when nginx
takes requests. The worker plan reaches gunicorn through the variables a user would set:
SAGEMAKER_MODEL_SERVER_WORKERS, and OMP_NUM_THREADS and IMAGE_CLASSIFIER_DYNAMIC_BATCH unless already set.
With the user's inference code (handlers.py), the model files are left to its model_fn to check, and an
``s3://`` SAGEMAKER_SUBMIT_DIRECTORY is downloaded by the checks, once for every worker. A multi-model endpoint
(SAGEMAKER_MULTI_MODEL=true) starts with no model: each is checked when POST /models loads it (multi_model.py).
"""

import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

from ..environment import Paths
from ..errors import UserError
from ..logs import configure_logging
from . import nginx_config, preflight, workers
from .runtime import RUNTIME_DIR_ENV, RuntimeDir
from .settings import Settings

log = logging.getLogger(__name__)
APP = "image_classifier.serving.app:create_app()"
CONFIG = "python:image_classifier.serving.gunicorn_config"
NGINX_DIRS = ("/usr/sbin",)  # Debian's nginx, not on a non-root user's PATH
NGINX_INSTALL = "install it with `apt-get install nginx` (Debian, Ubuntu), or put it on PATH"
DRAIN_DEADLINE = 25  # seconds from SIGTERM to both children gone; SageMaker sends SIGKILL after 30
POLL_INTERVAL = 0.2


def gunicorn_command() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", CONFIG, APP]


def nginx_command(nginx: str, runtime: RuntimeDir) -> list[str]:
    return [nginx, "-p", str(runtime.root), "-c", str(runtime.nginx_conf), "-e", "stderr"]


def nginx_executable(environ: Mapping[str, str], extra_dirs: tuple[str, ...] = NGINX_DIRS) -> str:
    """nginx on PATH (or in Debian's /usr/sbin), else a UserError that says how to install it."""
    search = os.pathsep.join([environ.get("PATH", ""), *extra_dirs])
    found = shutil.which("nginx", path=search)
    if found is None:
        raise UserError(f"nginx is not installed (serve runs it in front of gunicorn); {NGINX_INSTALL}")
    return found


def gunicorn_environ(environ: Mapping[str, str], plan: workers.WorkerPlan) -> dict[str, str]:
    child = dict(environ, SAGEMAKER_MODEL_SERVER_WORKERS=str(plan.workers))
    child.setdefault("OMP_NUM_THREADS", str(plan.model_threads))
    child.setdefault("IMAGE_CLASSIFIER_DYNAMIC_BATCH", str(plan.dynamic_batch))
    return child


def _exit_text(code):
    return f"signal {-code}" if code < 0 else f"code {code}"


def _stop(process, number, deadline):
    """Signal ``process`` and wait for it until ``deadline`` (monotonic), then kill it."""
    if process.poll() is None:
        process.send_signal(number)
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _supervise(children, stopping):
    """Until a signal (``stopping`` set) or a child's exit; the exit code of ``serve``."""
    nginx, gunicorn = children["nginx"], children["gunicorn"]
    while not stopping.wait(POLL_INTERVAL):
        for name, process in children.items():
            code = process.poll()
            if code is not None:
                log.error("%s exited with %s; stopping serve", name, _exit_text(code))
                deadline = time.monotonic() + DRAIN_DEADLINE
                _stop(nginx, signal.SIGTERM, deadline)
                _stop(gunicorn, signal.SIGTERM, deadline)
                return 128 - code if code < 0 else code or 1
    log.info("Stopping: nginx finishes the requests it holds, then gunicorn stops")
    deadline = time.monotonic() + DRAIN_DEADLINE
    _stop(nginx, signal.SIGQUIT, deadline)
    _stop(gunicorn, signal.SIGTERM, deadline)
    return 0


def _log_plan(settings, model_dir, plan, environ):
    log.info(
        "Serving %s on %s:%d (nginx, then gunicorn): %d worker(s), each with %s model thread(s), %d request "
        "threads and dynamic batches of up to %s images",
        model_dir,
        settings.host,
        settings.port,
        plan.workers,
        environ["OMP_NUM_THREADS"],
        settings.request_threads,
        environ["IMAGE_CLASSIFIER_DYNAMIC_BATCH"],
    )
    if not settings.max_payload_mb:
        log.info(
            "SAGEMAKER_MAX_PAYLOAD_IN_MB is 0: no payload limit of our own; bodies of any size and encoding "
            "(chunked too) are read up to our memory bound, IMAGE_CLASSIFIER_MAX_BODY_IN_MB (%d MB)",
            settings.max_body_mb,
        )


def main() -> int:
    configure_logging()
    stopping = threading.Event()
    started = False

    def on_signal(number, _frame):
        if not started:  # nothing started yet: stopping is exiting
            raise SystemExit(128 + number)
        stopping.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, on_signal)
    checked = preflight.run()  # MXNet and the model's files, in a child: MXNet never loads here
    if checked is None:
        return 1
    plan, source_environ = checked
    try:
        settings = Settings.from_environ(os.environ)
        model_dir = Paths.from_environ().model_dir
        nginx = nginx_executable(os.environ)
    except UserError as error:
        log.error("serve cannot start: %s", error)
        return 1
    runtime = RuntimeDir.create()
    try:
        open_files = nginx_config.file_limit(resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        runtime.nginx_conf.write_text(nginx_config.render(settings, runtime, os.geteuid() == 0, open_files))
        environ = dict(gunicorn_environ(source_environ, plan), **{RUNTIME_DIR_ENV: str(runtime.root)})
        _log_plan(settings, "the models POST /models loads" if settings.multi_model else model_dir, plan, environ)
        children = {"gunicorn": subprocess.Popen(gunicorn_command(), env=environ)}
        started = True
        children["nginx"] = subprocess.Popen(nginx_command(nginx, runtime))
        return _supervise(children, stopping)
    finally:
        for process in children.values() if started else ():
            if process.poll() is None:
                process.kill()
                process.wait()
        runtime.remove()
