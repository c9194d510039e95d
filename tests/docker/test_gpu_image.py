"""The GPU image links: every library libmxnet.so needs resolves inside it, but the driver's libcuda.so.1,
which the NVIDIA container runtime mounts from the host. Opt-in (it downloads about 2.5 GB):
IMAGE_CLASSIFIER_GPU_IMAGE_TEST=1.
"""

import os
import re
import subprocess

import pytest
from containers import build_image

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        os.environ.get("IMAGE_CLASSIFIER_GPU_IMAGE_TEST") != "1",
        reason="set IMAGE_CLASSIFIER_GPU_IMAGE_TEST=1 to build the GPU image (about 2.5 GB)",
    ),
]


def test_gpu_image_resolves_every_library_of_mxnet_but_the_driver():
    image = build_image("gpu")
    ldd = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "host",
            image,
            "sh",
            "-c",
            "ldd /opt/venv/lib/python3.11/site-packages/mxnet/libmxnet.so",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ldd.returncode == 0, ldd.stderr
    missing = set(re.findall(r"^\s*(\S+) => not found", ldd.stdout, re.MULTILINE))
    assert missing == {"libcuda.so.1"}, ldd.stdout
