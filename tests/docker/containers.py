"""Running the image in tests: build it, and run containers that never outlive a test.

Containers run with ``--network host`` (the machines here have no bridge network) and unique names,
and are removed with ``docker rm -f`` whatever happens.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 3 * 3600  # the GPU image downloads about 2.5 GB of wheels
SMALL_HYPERPARAMETERS = {
    "num_classes": "4",
    "num_training_samples": "64",
    "num_layers": "18",
    "image_shape": "3,32,32",
    "epochs": "2",
    "mini_batch_size": "16",
}


def build_image(device):
    """local_test/build_image.sh DEVICE, or skip when there is no Docker engine; returns the tag."""
    try:
        engine = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"no Docker engine answers `docker info` ({error})")
    if engine.returncode:
        last_line = (engine.stderr.strip() or f"exit code {engine.returncode}").splitlines()[-1]
        pytest.skip(f"no Docker engine answers `docker info` ({last_line})")
    subprocess.run(
        [str(REPO / "local_test" / "build_image.sh"), device],
        check=True,
        timeout=BUILD_TIMEOUT,
        env={**os.environ, "PYTHON": sys.executable},
    )
    return f"image-classifier:{device}"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Container:
    """``docker run --rm`` of IMAGE COMMAND with JOB_DIR as /opt/ml, output (both streams) to a log file."""

    def __init__(self, image, job_dir, *command, user=None, env=None, limits=()):
        """``limits``: more ``docker run`` options, such as ("--memory", "2g", "--cpus", "1")."""
        self.name = f"image-classifier-test-{uuid.uuid4().hex[:12]}"
        self.log_path = Path(job_dir).parent / f"{self.name}.log"
        options = [*(["--user", user] if user else []), *limits]
        for key, value in (env or {}).items():
            options += ["-e", f"{key}={value}"]
        self.args = [
            "docker",
            "run",
            "--rm",
            "--name",
            self.name,
            "--network",
            "host",
            "-v",
            f"{job_dir}:/opt/ml",
            *options,
            image,
            *command,
        ]
        self.process = None

    def __enter__(self):
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc_info):
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, timeout=120)
        self.process.wait(timeout=120)

    @property
    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout):
        """The exit code once the container has ended; after ``timeout`` seconds, the test fails instead."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{' '.join(self.args)} ran longer than {timeout} s; its log:\n{self.log[-4000:]}")

    def wait_for_log(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no line matching {pattern!r} in {timeout} s; the log:\n{self.log[-4000:]}")
            time.sleep(0.5)

    def stop(self, grace):
        """``docker stop --time GRACE``; returns (exit code, seconds until the container had ended)."""
        started = time.monotonic()
        subprocess.run(["docker", "stop", "--time", str(grace), self.name], capture_output=True, timeout=grace + 60)
        code = self.wait(timeout=60)
        return code, time.monotonic() - started


def run(image, job_dir, *command, timeout, **options):
    """Run a container to its end; returns (exit code, log)."""
    with Container(image, job_dir, *command, **options) as container:
        code = container.wait(timeout)
        return code, container.log


def make_job(image, job_dir, num_train=64, num_validation=32, **hyperparameters):
    """JOB_DIR as SageMaker mounts /opt/ml: the demo data set, with SMALL_HYPERPARAMETERS and these."""
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True)
    code, log = run(
        image,
        job_dir,
        "python",
        "-m",
        "image_classifier.demo_data",
        "/opt/ml",
        "--num-train",
        str(num_train),
        "--num-validation",
        str(num_validation),
        "--size",
        "32",
        user=f"{os.getuid()}:{os.getgid()}",
        timeout=300,
    )
    assert code == 0, log
    values = {**SMALL_HYPERPARAMETERS, "num_training_samples": str(num_train), **hyperparameters}
    (job_dir / "input" / "config" / "hyperparameters.json").write_text(json.dumps(values))
    return job_dir
