"""What ``serve`` checks before it starts anything (the settings, the model's files, the device, that the model fits
in the container's memory), run in a child process that exits once it has answered.

The checks need MXNet (the GPUs it sees: the worker plan, int8 only on CPU) and the model's files, and
MXNet, once imported, stays resident for the life of the process (about 200 MB: libmxnet.so and what its
import allocates). In the supervisor, which only waits on its children, that memory would be held for as
long as the endpoint runs; here it is given back before gunicorn starts. The child writes its answer, the
worker plan and the environment for gunicorn, as JSON to the pipe the supervisor gives it; a UserError is
logged as ``serve cannot start: ...`` and ends the child with code 1.
"""

import dataclasses
import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict

from .. import libraries
from ..environment import Paths
from ..errors import UserError
from . import workers
from .settings import Settings, memory_bytes

log = logging.getLogger(__name__)
CHILD_CODE = "import sys; from image_classifier.serving.preflight import child_main; sys.exit(child_main(sys.argv[1]))"
FAILED = 1


def checked(environ: Mapping[str, str]) -> tuple[workers.WorkerPlan, dict[str, str]]:
    """The worker plan and gunicorn's environment once the settings, the model and the device allow serving;
    a UserError when not. Imports MXNet: call in the preflight child only."""
    libraries.before_mxnet()
    from .. import devices
    from . import handlers, model_memory
    from .predictor import check_model_dir, served_precision

    settings = Settings.from_environ(environ)
    model_dir = Paths.from_environ(environ).model_dir
    if not settings.multi_model:  # the precision of the model's files, before the device is chosen for it
        settings = dataclasses.replace(settings, precision=served_precision(model_dir, settings.precision))
    devices.serving_context(settings.worker_slot, settings.precision)  # refuses int8 on a GPU host
    if settings.multi_model:  # no model until POST /models
        source_environ = dict(environ)
    else:
        source_environ = handlers.with_local_source(model_dir, dict(environ))
        if handlers.program_path(model_dir, source_environ) is None:  # user code's model_fn may read others
            check_model_dir(model_dir, settings.precision)
    plan = workers.plan(devices.gpu_count(), workers.available_cores(), settings.workers)
    if not settings.multi_model and not devices.gpu_count():  # a GPU's memory is not the container's
        model_memory.check_fits(model_dir, settings.precision, plan.workers, memory_bytes())
    return plan, source_environ


def child_main(result_fd: str) -> int:
    from ..logs import configure_logging

    configure_logging()
    try:
        plan, environ = checked(os.environ)
    except UserError as error:
        log.error("serve cannot start: %s", error)
        return FAILED
    with os.fdopen(int(result_fd), "w") as result:
        json.dump({"plan": asdict(plan), "environ": environ}, result)
    return 0


def run() -> tuple[workers.WorkerPlan, dict[str, str]] | None:
    """checked() in a child process: its answer, or None when it refused (it has logged why)."""
    read_end, write_end = os.pipe()
    child = subprocess.Popen([sys.executable, "-c", CHILD_CODE, str(write_end)], pass_fds=(write_end,))
    os.close(write_end)
    try:
        with os.fdopen(read_end) as result:
            answer = result.read()
        child.wait()
    finally:  # a signal ends serve (launcher.py) while the checks run: they end with it
        if child.poll() is None:
            child.kill()
            child.wait()
    if child.returncode != 0:
        if child.returncode != FAILED:  # not a refusal it logged: a crash, traceback above
            log.error("serve cannot start: its start-up checks ended with code %d", child.returncode)
        return None
    found = json.loads(answer)
    return workers.WorkerPlan(**found["plan"]), found["environ"]
