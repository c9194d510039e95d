"""Real `serve` processes for the serving tests, on 127.0.0.1 and a free port, never outliving a test.

``trained_model_dir`` trains the tiny model once per session (ResNet-20 on 32x32 demo images, one epoch).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

from image_classifier import demo_data

READY_DEADLINE = 120  # seconds for /ping to pass; a loaded CI machine can be slow to import MXNet
POLL_INTERVAL = 0.1
STOP_DEADLINE = 40
_trained = {}


def console_script(name):
    script = Path(sys.executable).with_name(name)
    return str(script) if script.exists() else shutil.which(name)


def trained_model_dir(tmp_path_factory):
    """The model directory of one real `train` run, shared by the whole session."""
    if "model_dir" not in _trained:
        base_dir = tmp_path_factory.mktemp("trained")
        demo_data.write_job(
            base_dir, num_train=64, num_validation=32, size=32, num_layers=20, epochs=1, mini_batch_size=16
        )
        result = subprocess.run(
            [console_script("train")],
            env=dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir)),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        _trained["model_dir"] = base_dir / "model"
    return _trained["model_dir"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServeProcess:
    """`serve` with SAGEMAKER_BASE_DIR=base_dir; output (both streams) in base_dir/serve.log."""

    def __init__(self, base_dir, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(base_dir) / f"serve-{self.port}.log"
        environ = dict(
            os.environ,
            SAGEMAKER_BASE_DIR=str(base_dir),
            SAGEMAKER_BIND_TO_PORT=str(self.port),
            IMAGE_CLASSIFIER_BIND_HOST="127.0.0.1",
            **{key: str(value) for key, value in env.items()},
        )
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [console_script("serve")], env=environ, stdout=log, stderr=subprocess.STDOUT
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_until_listening(self):
        """Once the port takes TCP connections (nginx has bound it; workers may be loading)."""
        self._poll(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close() or True)

    def wait_until_ready(self):
        self._poll(lambda: requests.get(self.url + "/ping", timeout=5).status_code == 200)

    def _poll(self, check):
        deadline = time.monotonic() + READY_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with code {self.process.returncode}:\n{self.log[-4000:]}")
            try:
                if check():
                    return
            except (OSError, requests.RequestException):
                pass
            time.sleep(POLL_INTERVAL)
        raise AssertionError(f"serve was not ready within {READY_DEADLINE} s:\n{self.log[-4000:]}")

    def get(self, path):
        return requests.get(self.url + path, timeout=60)

    def post(self, body, content_type, **headers):
        return requests.post(
            self.url + "/invocations", data=body, headers={"Content-Type": content_type, **headers}, timeout=60
        )

    def _child(self, is_it):
        (child,) = [child for child in psutil.Process(self.process.pid).children() if is_it(child.cmdline())]
        return child

    def gunicorn(self):
        """gunicorn's arbiter."""
        return self._child(lambda command: "gunicorn" in command[:3])

    def nginx(self):
        """nginx's master process (its title: "nginx: master process ...")."""
        return self._child(lambda command: " ".join(command).startswith("nginx: master"))

    def worker_pids(self):
        return sorted(worker.pid for worker in self.gunicorn().children())

    def wait_for_log(self, pattern):
        self._poll(lambda: re.search(pattern, self.log))

    def stop(self):
        """SIGTERM, then SIGKILL to the whole tree if it has not ended in time; returns the exit code."""
        if self.process.poll() is None:
            tree = [self.process, *psutil.Process(self.process.pid).children(recursive=True)]
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                pass
            for process in tree:
                try:
                    process.kill()
                except (psutil.NoSuchProcess, ProcessLookupError):
                    pass
            self.process.wait(timeout=STOP_DEADLINE)
        return self.process.returncode
