"""The image, built once a session; every test here is skipped, with the reason, when no Docker engine answers."""

import pytest
from containers import build_image


@pytest.fixture(scope="session")
def cpu_image():
    return build_image("cpu")
