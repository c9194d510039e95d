"""Several hosts: MXNet's own parameter server (ps-lite), laid out as SageMaker's built-in algorithm does.

hosts[0] runs the scheduler; every host runs one server and one worker (the training job). The DMLC
variables below tell each process its role and where the scheduler listens; ``import mxnet`` with
``DMLC_ROLE=server`` or ``scheduler`` runs that role until the workers finish.
"""

import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from .. import hyperparameters
from ..environment import Environment
from ..errors import UserError

log = logging.getLogger(__name__)
DEFAULT_PS_PORT = 8000
RESOLVE_SECONDS = 120  # SageMaker's hosts may join the network some time after each other


@dataclass(frozen=True)
class Cluster:
    host: str
    hosts: tuple[str, ...]  # every host of the job, this one among them
    roles: tuple[str, ...]  # the parameter-server roles this host runs beside its worker
    variables: dict[str, str]  # DMLC_* for every process of this host


def resolve(host: str, seconds: float = RESOLVE_SECONDS) -> str:
    deadline = time.time() + seconds
    while True:
        try:
            return socket.gethostbyname(host)
        except OSError as error:
            if time.time() >= deadline:
                raise UserError(
                    f"Host '{host}' of resourceconfig.json did not resolve within {seconds} s ({error}); "
                    f"check the training job's network configuration"
                ) from None
            time.sleep(1)


def plan(env: Environment) -> Cluster | None:
    """This host's part of a multi-host job, or None for a job on one host."""
    if len(env.hosts) == 1:
        return None
    hp = hyperparameters.parse(env.hyperparameters)
    if hp.kv_store not in ("dist_sync", "dist_async"):
        raise UserError(
            f"This job has {len(env.hosts)} hosts: set kv_store to dist_sync or dist_async to train on all of "
            f"them, or use one instance"
        )
    if hp.early_stopping:
        raise UserError(
            "early_stopping is not available with several hosts; set early_stopping=False or use one instance"
        )
    variables = {
        "DMLC_PS_ROOT_URI": resolve(env.hosts[0]),
        "DMLC_PS_ROOT_PORT": str(hp.reserved.get("_ps_port", DEFAULT_PS_PORT)),
        "DMLC_NUM_SERVER": str(len(env.hosts)),
        "DMLC_NUM_WORKER": str(len(env.hosts)),
        "DMLC_NODE_HOST": resolve(env.current_host),
        "PS_VERBOSE": str(hp.reserved.get("_ps_verbose", "0")),
    }
    for host in env.hosts:
        resolve(host)
    roles = ("scheduler", "server") if env.is_master else ("server",)
    return Cluster(env.current_host, env.hosts, roles, variables)


def start_role(cluster: Cluster, role: str) -> subprocess.Popen:
    environ = {**os.environ, **cluster.variables, "DMLC_ROLE": role}
    return subprocess.Popen([sys.executable, "-c", "import mxnet"], env=environ)


def worker_environment(cluster: Cluster | None) -> dict[str, str]:
    return {**os.environ, **cluster.variables, "DMLC_ROLE": "worker"} if cluster else dict(os.environ)
