"""Image decode/resize/encode without cv2 (whose libGL the Docker image leaves out)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from image_classifier import image_ops

RGB = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)


def test_png_round_trip_is_exact():
    assert np.array_equal(image_ops.decode_rgb(image_ops.encode(RGB, "PNG")), RGB)


def test_jpeg_round_trip_is_close():
    gradient = np.broadcast_to(np.linspace(0, 255, 20, dtype=np.uint8)[None, :, None], (12, 20, 3)).copy()
    decoded = image_ops.decode_rgb(image_ops.encode(gradient, "JPEG"))
    assert decoded.shape == gradient.shape and np.abs(decoded.astype(int) - gradient).max() <= 4


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_undecodable_bytes_give_none(data):
    assert image_ops.decode_rgb(data) is None


@pytest.mark.parametrize("shape", [(12, 20), (12, 20, 1), (12, 20, 3)])
def test_resize_keeps_channels(shape):
    image = np.zeros(shape, np.uint8)
    assert image_ops.resize(image, 10, 6).shape == (6, 10, 1 if len(shape) == 2 else shape[2])


@pytest.mark.parametrize(
    "shape, shorter, expected", [((48, 64), 16, (16, 21)), ((70, 50), 32, (44, 32)), ((9, 9), 4, (4, 4))]
)
def test_resize_shorter_side_truncates_the_longer_side(shape, shorter, expected):
    assert image_ops.resize_shorter_side(np.zeros((*shape, 3), np.uint8), shorter).shape == (*expected, 3)


@pytest.mark.slow
def test_no_module_needs_cv2(tmp_path):
    """Every module imports with cv2 unloadable, as in the image (no libGL); the gunicorn config in the
    runtime directory the launcher names."""
    code = (
        "import sys, pkgutil, importlib, image_classifier\n"
        "sys.modules['cv2'] = None\n"
        "for module in pkgutil.walk_packages(image_classifier.__path__, 'image_classifier.'):\n"
        "    importlib.import_module(module.name)\n"
    )
    environ = dict(os.environ, IMAGE_CLASSIFIER_RUNTIME_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=environ)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_a_cv2_that_cannot_load_leaves_sys_path_alone(tmp_path):
    """opencv-python without libGL: its import fails after putting its folder first on sys.path."""
    fake = tmp_path / "cv2"
    (fake / "typing").mkdir(parents=True)
    (fake / "typing" / "__init__.py").write_text("raise RuntimeError('the wrong typing')\n")
    (fake / "__init__.py").write_text(
        "import os, sys\nsys.path.insert(1, os.path.dirname(__file__))\n"
        "raise ImportError('libGL.so.1: cannot open shared object file')\n"
    )
    code = (
        "import sys; sys.modules.pop('typing', None)\n"
        "from image_classifier import libraries; libraries.before_mxnet()\n"
        "import mxnet, typing\n"
        "assert not any(p.endswith('cv2') for p in sys.path), sys.path\n"
    )
    environ = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=environ)
    assert result.returncode == 0, result.stderr
