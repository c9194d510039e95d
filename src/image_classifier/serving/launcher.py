"""``serve``: checks the settings and the model, plans the workers, then runs gunicorn and watches it.

The launcher may be PID 1 in the container, where a signal without a handler is ignored, so it handles
SIGTERM (SageMaker's scale-in, ``docker stop``) and SIGINT before anything slow (MXNet takes seconds to
import): until gunicorn runs, they just end ``serve``; after, they are forwarded to gunicorn, which stops
taking connections, finishes the requests in flight and exits. When gunicorn exits for any reason, so
does ``serve``, with gunicorn's exit code, so that the platform sees a dead container rather than one that
no longer answers. The worker plan reaches gunicorn through the variables a user would set:
SAGEMAKER_MODEL_SERVER_WORKERS, and OMP_NUM_THREADS and IMAGE_CLASSIFIER_DYNAMIC_BATCH unless already set.
With the user's inference code (handlers.py), the model files are left to its model_fn to check, and an
``s3://`` SAGEMAKER_SUBMIT_DIRECTORY is downloaded here, once for every worker.
"""

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping

from .. import libraries
from ..environment import Paths
from ..errors import UserError
from ..logs import configure_logging
from . import workers
from .settings import Settings

log = logging.getLogger(__name__)
APP = "image_classifier.serving.app:create_app()"
CONFIG = "python:image_classifier.serving.gunicorn_config"


def gunicorn_command() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", CONFIG, APP]


def gunicorn_environ(environ: Mapping[str, str], plan: workers.WorkerPlan) -> dict[str, str]:
    child = dict(environ, SAGEMAKER_MODEL_SERVER_WORKERS=str(plan.workers))
    child.setdefault("OMP_NUM_THREADS", str(plan.model_threads))
    child.setdefault("IMAGE_CLASSIFIER_DYNAMIC_BATCH", str(plan.dynamic_batch))
    return child


def main() -> int:
    configure_logging()
    gunicorn = None

    def forward(number, _frame):
        if gunicorn is None:  # nothing started yet: stopping is exiting
            raise SystemExit(128 + number)
        gunicorn.send_signal(number)

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, forward)
    libraries.import_cv2_or_mark_absent()
    from .. import devices  # MXNet, seconds to import: only once the signals are handled
    from . import handlers
    from .predictor import check_model_dir

    try:
        settings = Settings.from_environ(os.environ)
        model_dir = Paths.from_environ().model_dir
        source_environ = handlers.with_local_source(model_dir, os.environ)
        devices.serving_context(settings.worker_slot, settings.precision)  # refuses int8 on a GPU host
        if handlers.program_path(model_dir, source_environ) is None:  # user code's model_fn may read other files
            check_model_dir(model_dir, settings.precision)
        plan = workers.plan(devices.gpu_count(), workers.available_cores(), settings.workers)
    except UserError as error:
        log.error("serve cannot start: %s", error)
        return 1
    environ = gunicorn_environ(source_environ, plan)
    log.info(
        "Serving %s on %s:%d: %d worker(s), each with %s model thread(s), %d request threads and dynamic "
        "batches of up to %s images",
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
    gunicorn = subprocess.Popen(gunicorn_command(), env=environ)
    code = gunicorn.wait()
    if code:
        log.error("gunicorn exited with %s", f"signal {-code}" if code < 0 else f"code {code}")
    return 128 - code if code < 0 else code
