"""What ``train`` runs: the job in a child process, beside this host's parameter-server roles if any.

The supervisor may be PID 1 in the container. It forwards SIGTERM and SIGINT to its children and, if they
have not ended ``STOP_GRACE`` seconds later (a worker can block in the kvstore when a peer is gone), kills
them, and says so. When a parameter-server role dies while the job runs, it ends the job and fails naming
the role; when a job of several hosts stops making progress (a host is lost, ``watchdog``), it ends every
process of the job and fails naming the other hosts. When the job is killed outright (the OOM killer sends
SIGKILL) it leaves the reason the job could not.
A job whose hyperparameters name a script of the user's (``sagemaker_program``) runs that instead
(``script_mode``).
"""

import logging
import signal
import subprocess
import sys
import time

from .. import failure
from ..environment import Environment, Paths
from . import distributed, script_mode, watchdog

log = logging.getLogger(__name__)
JOB_CODE = "from image_classifier.cli import job_main; raise SystemExit(job_main())"
STOP_GRACE = 30
ROLE_EXIT_WAIT = 30
KILLED_MESSAGE = (
    "Training was killed (SIGKILL), most often by the out-of-memory killer: lower "
    "mini_batch_size or image_shape, or use an instance with more memory"
)
STOP_TIMED_OUT_MESSAGE = (
    "Training was stopped ({signal}) and had not ended {seconds} s later, so it was killed (SIGKILL), not for "
    "lack of memory: it was waiting for a host of the job that is gone, or a save took that long; what was kept "
    "before the stop is in the model directory (and the checkpoints folder, if on)"
)


class Supervisor:
    def __init__(self, cluster: distributed.Cluster | None):
        self.cluster = cluster
        self.watchdog = watchdog.Watchdog(watchdog.timeout()) if cluster else None
        self.roles = {role: distributed.start_role(cluster, role) for role in cluster.roles} if cluster else {}
        environ = distributed.worker_environment(cluster) | (self.watchdog.environment() if cluster else {})
        self.job = subprocess.Popen([sys.executable, "-c", JOB_CODE], env=environ)
        self.stop_requested_at = None
        self.stop_signal = None
        self.killed_by_us = False
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._forward)

    def _children(self):
        return [self.job, *self.roles.values()]

    def _forward(self, number, _frame):
        self.stop_requested_at = self.stop_requested_at or time.time()
        self.stop_signal = self.stop_signal or signal.Signals(number).name
        for child in self._children():
            if child.poll() is None:
                child.send_signal(number)

    def _kill_all(self):
        self.killed_by_us = True
        for child in self._children():
            if child.poll() is None:
                child.kill()

    def _dead_role(self):
        """A role that failed; one that exits 0 has seen every worker finish, which is how it should end."""
        return next(((role, p.returncode) for role, p in self.roles.items() if p.poll() not in (None, 0)), None)

    def wait(self, paths: Paths) -> int:
        try:
            return self._wait(paths)
        finally:
            if self.watchdog:
                self.watchdog.close()

    def _wait(self, paths):
        while self.job.poll() is None:
            if self.stop_requested_at and time.time() - self.stop_requested_at > STOP_GRACE:
                self._kill_all()
            if not self.stop_requested_at:
                dead = self._dead_role()
                if dead:
                    role, code = dead
                    return self._fail(
                        paths,
                        f"The parameter {role} on host {self.cluster.host} exited (code {code}) while training "
                        f"ran; the job cannot go on without it: check that host's log and memory, then retry",
                        failure.INTERNAL_ERROR_EXIT,
                    )
                if self.watchdog and self.watchdog.stalled():
                    return self._fail(paths, self._lost_host_message(), failure.USER_ERROR_EXIT)
            time.sleep(0.2)
        self._end_roles()
        return self._exit_code(self.job.returncode, paths)

    def _fail(self, paths, message, code):
        """End every process of this host's job and fail with ``message``."""
        log.error(message)
        failure.write_failure(paths, message)
        self._kill_all()
        for child in self._children():
            child.wait()
        return code

    def _lost_host_message(self):
        others = [host for host in self.cluster.hosts if host != self.cluster.host]
        which = f"host {others[0]}" if len(others) == 1 else f"one of the hosts {', '.join(others)}"
        return (
            f"Training on host {self.cluster.host} made no progress for {self.watchdog.seconds:g} s: {which} "
            f"stopped answering (lost or stuck), and the job cannot go on without it, so every process of it "
            f"here was stopped. Start the training job again (with checkpoints on, it resumes from the last one); "
            f"if it recurs, read that host's log, or raise {watchdog.SECONDS_ENV} if one batch can take that long"
        )

    def _end_roles(self):
        """After the job, the roles end by themselves once every worker has finished; else they are ended."""
        deadline = time.time() + ROLE_EXIT_WAIT
        for process in self.roles.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _exit_code(self, code, paths):
        if code == -signal.SIGKILL and not self.killed_by_us:
            log.error(KILLED_MESSAGE)
            failure.write_failure(paths, KILLED_MESSAGE)
        elif code == -signal.SIGKILL and self.stop_requested_at:
            message = STOP_TIMED_OUT_MESSAGE.format(signal=self.stop_signal, seconds=STOP_GRACE)
            log.error(message)
            failure.write_failure(paths, message)
            return failure.Stopped.exit_code
        elif code < 0:
            failure.write_failure(paths, f"Training ended by {signal.Signals(-code).name}")
        return 128 - code if code < 0 else code


def main() -> int:
    paths = Paths.from_environ()
    failure.reset(paths)
    try:
        env = Environment.load(paths)
        if script_mode.requested(env.hyperparameters):
            return script_mode.run(env, STOP_GRACE)
        supervisor = Supervisor(distributed.plan(env))
    except Exception as error:  # reading the configuration fails through the same funnel as the job
        return failure.handle_error(paths, error)
    return supervisor.wait(paths)
