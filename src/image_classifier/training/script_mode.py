"""``train`` in script mode: the user's own training script, run as AWS's MXNet framework containers run it.

When the hyperparameters hold ``sagemaker_program`` (the SageMaker SDK sets it, with
``sagemaker_submit_directory``, for an estimator given an ``entry_point``), the job is handed to
sagemaker_training's entry-point runner: the source directory (an ``s3://`` sourcedir tarball, a local
directory or tarball, or ``/opt/ml/code`` as the SDK's local mode mounts it) is unpacked into /opt/ml/code,
its ``requirements.txt`` installed, and the entry point run with the toolkit's ``SM_*`` environment and the
other hyperparameters as command-line arguments. ``train`` exits with the script's exit code.

These are ``entry_point.run``'s steps, in its order, with three differences:
- host names: ``entry_point.run`` waits up to 15 minutes for every host name to resolve, even a lone host's
  own name, which resolves only on SageMaker (not under ``docker run`` or in tests); we resolve the hosts of
  a job with several, with the built-in path's retry and error (``distributed.resolve``);
- SIGTERM and SIGINT reach the script (the toolkit waits on it without forwarding them), and whatever still
  runs ``stop_grace`` seconds later is killed, as the built-in path's supervisor does;
- failures go through our funnel: the first line of /opt/ml/output/failure says what failed and what to do,
  the last lines of the script's (or pip's) stderr follow, read whole from our own stderr, which they
  inherit (``_StderrTail``), instead of the toolkit's ``capture_error`` (see there).

sagemaker_training is imported here only, when a job asks for a script: its ``environment`` module creates
``<base dir>/code`` (and, with neither /opt/ml nor SAGEMAKER_BASE_DIR, a tree under ~/sagemaker_local) when
it is imported.
"""

import collections
import contextlib
import logging
import os
import re
import signal
import sys
import threading
import uuid

import psutil

from .. import failure
from ..environment import Environment
from ..errors import UserError
from . import distributed

log = logging.getLogger(__name__)
PROGRAM = "sagemaker_program"
ERROR_LINES = 20  # of the script's (or pip's) error output, after the failure file's first line

# What pip's output says when requirements.txt cannot be installed here, and what the user can do.
PIP_CAUSES = (
    (
        re.compile(
            r"Failed to establish a new connection|Connection refused|Network is unreachable|Name or service not known|"
            r"Temporary failure in name resolution|Read timed out|ProxyError"
        ),
        "this container cannot reach a package index (no network: a job with network isolation, a VPC without "
        "internet access, or a local run offline); put the packages' wheels in the source directory and point "
        "requirements.txt at them (--no-index --find-links wheels), or build an image with them installed",
    ),
    (
        re.compile(r"command '[^']*\b(gcc|cc|g\+\+|c\+\+)' failed|unable to execute '[^']*\b(gcc|cc|g\+\+|c\+\+)'"),
        "a package builds from source and this image has no C compiler; use a version published as a binary "
        "wheel for Linux x86_64 and Python 3.11, or build an image with the package installed",
    ),
    (
        re.compile(r"Permission denied|\[Errno 13\]"),
        "the image's Python environment is not writable by this user; run the job as root (SageMaker's default) "
        "or build an image with the packages installed",
    ),
)


def requested(hyperparameters: dict) -> bool:
    """Whether the job runs a script of the user's (the SDK's ``sagemaker_program``) instead of the built-in."""
    return PROGRAM in hyperparameters


def _toolkit_environment(env: Environment):
    """sagemaker_training's view of the job: the three config files as it reads them, ours where one is absent.

    SageMaker writes all three; a local run may leave out resourceconfig.json or inputdataconfig.json, where
    our defaults apply (one host, algo-1; every folder under input/data a channel).
    """
    from sagemaker_training import environment as toolkit_environment

    resource_config = None
    if not env.paths.resource_config_file.exists():
        resource_config = {
            "current_host": env.current_host,
            "hosts": list(env.hosts),
            "network_interface_name": env.network_interface_name,
        }
    input_data_config = None
    if not env.paths.input_data_config_file.exists():
        input_data_config = {name: {"TrainingInputMode": channel.input_mode} for name, channel in env.channels.items()}
        if not input_data_config:
            raise UserError(
                f"{env.paths.input_data_config_file} is missing and input/data holds no channel; add the file "
                f"(SageMaker writes it) or a channel folder"
            )
    return toolkit_environment.Environment(resource_config=resource_config, input_data_config=input_data_config)


class _StderrTail:
    """The last ``count`` lines written to this process's stderr (fd 2, which children inherit) while it is open.

    Every line still reaches the log, whole: the toolkit's own capture (``capture_error=True``) prints each
    chunk it reads from a pipe as a line of its own, so an unbuffered script's lines came out in pieces.
    """

    def __init__(self, count: int):
        self.count = count
        self._mark = f"-- image-classifier: stderr tail cleared {uuid.uuid4()} --\n".encode()

    def __enter__(self) -> "_StderrTail":
        read_end, write_end = os.pipe()
        self._saved = os.dup(2)
        os.dup2(write_end, 2)
        os.close(write_end)
        self._tail = collections.deque(maxlen=self.count)
        echo = os.dup(self._saved)
        self._reader = threading.Thread(target=self._pump, args=(read_end, echo), name="stderr-tail", daemon=True)
        self._reader.start()
        return self

    def _pump(self, read_end: int, echo: int) -> None:
        with os.fdopen(read_end, "rb") as pipe, os.fdopen(echo, "wb", buffering=0) as stderr:
            for line in pipe:
                cleared = line.endswith(self._mark)
                if cleared:
                    line = line[: -len(self._mark)]  # an unfinished line the mark was appended to
                stderr.write(line)
                if line.strip():
                    self._tail.append(line.decode("utf-8", "replace").rstrip())
                if cleared:
                    self._tail.clear()

    def clear(self) -> None:
        """Forget the lines written so far: a mark through the pipe, behind whatever ended children left in it."""
        sys.stderr.flush()
        os.write(2, self._mark)

    def close(self) -> None:
        """Give fd 2 back and wait for the reader to take in what the children wrote before they ended."""
        if self._saved is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # our write end closes: the reader ends once the children's copies have closed too
        os.close(self._saved)
        self._saved = None
        self._reader.join(timeout=5)

    def lines(self) -> list[str]:
        """The tail, whole: a child's last lines may still be in the pipe when its exit is reported."""
        self.close()
        return list(self._tail)

    def __exit__(self, *_exc) -> None:
        self.close()


def _requirements_message(lines: list, return_code) -> str:
    text = "\n".join(lines)
    cause = next((advice for pattern, advice in PIP_CAUSES if pattern.search(text)), None)
    last_line = lines[-1].strip() if lines else "see its output in the log"
    reason = cause or f"pip exited with code {return_code}: {last_line}"
    return "\n".join([f"The source directory's requirements.txt could not be installed: {reason}", *lines])


def _script_message(program: str, code: int, lines: list, stopped: bool) -> str:
    if stopped:
        first = f"Training was stopped (SIGTERM); the training script {program} ended with exit code {code}"
    elif code < 0:
        first = f"The training script {program} was killed by {signal.Signals(-code).name}"
        if code == -signal.SIGKILL:
            first += ", most often by the out-of-memory killer: use less memory or an instance with more"
    elif lines:
        first = f"The training script {program} failed (exit code {code}): {lines[-1].strip()}; fix the script"
    else:
        first = f"The training script {program} exited with code {code} and wrote no error; see the job's log"
    return "\n".join([first, *lines])


class _Forwarder:
    """Sends SIGTERM and SIGINT on to our children (pip, then the script), and kills them ``grace`` s later."""

    def __init__(self, grace: float):
        self.grace = grace
        self.stopped = False
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._forward)

    def _forward(self, number, _frame):
        if not self.stopped:
            self.stopped = True
            timer = threading.Timer(self.grace, self._kill)
            timer.daemon = True
            timer.start()
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.NoSuchProcess):  # it may end meanwhile
                child.send_signal(number)

    def _kill(self):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def run(env: Environment, stop_grace: float) -> int:
    """Run the user's script for the job in ``env``; the exit code ``train`` returns (the script's own)."""
    from sagemaker_training import entry_point, errors, files, process
    from sagemaker_training import environment as toolkit_environment

    paths = env.paths
    forwarder = _Forwarder(stop_grace)
    with _StderrTail(ERROR_LINES) as tail:
        try:
            toolkit_env = _toolkit_environment(env)
            program = toolkit_env.user_entry_point
            code_dir = toolkit_environment.code_dir
            files.download_and_extract(uri=toolkit_env.module_dir, path=code_dir)
            entry_point.install(name=program, path=code_dir)
            if len(env.hosts) > 1:
                for host in env.hosts:
                    distributed.resolve(host)
            for folder in (paths.model_dir, paths.output_data_dir):  # SageMaker creates them; a local run may not
                folder.mkdir(parents=True, exist_ok=True)
            env_vars = toolkit_env.to_env_vars()
            toolkit_environment.write_env_vars(env_vars)
            tail.clear()  # from here on, the script's own
            process.ProcessRunner(program, toolkit_env.to_cmd_args(), env_vars, 1).run(wait=True)
        except errors.InstallRequirementsError as error:
            return failure.handle_error(paths, UserError(_requirements_message(tail.lines(), error.return_code)))
        except errors.ExecuteUserScriptError as error:
            if not error.return_code.lstrip("-").isdigit():  # the script could not be started at all
                return failure.handle_error(paths, error)
            code = int(error.return_code)
            message = _script_message(program, code, tail.lines(), forwarder.stopped)
            log.error("%s", message)
            failure.write_failure(paths, message)
            return 128 - code if code < 0 else code
        except errors.ClientError as error:  # the toolkit's errors the user can fix (an entry point name it refuses)
            return failure.handle_error(paths, UserError(str(error)))
        except Exception as error:
            return failure.handle_error(paths, error)
    paths.success_file.parent.mkdir(parents=True, exist_ok=True)
    paths.success_file.touch()
    return 0
