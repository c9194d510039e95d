"""SageMaker's built-in Image Classification (MXNet) algorithm, as a container that runs anywhere."""

import sys


def _settle_cv2():
    """Load opencv-python's cv2 once, or mark it absent, before MXNet tries to import it.

    None of our code uses cv2 (a gluoncv requirement). Without libGL (the Docker image, a bare Debian) its
    import fails after putting its own folder on sys.path, where its ``typing`` package would shadow the
    standard library's; the path is restored here and the failure remembered, so nothing imports it again.
    """
    path = list(sys.path)
    try:
        import cv2  # noqa: F401
    except ImportError:
        sys.modules["cv2"] = None
    finally:
        sys.path[:] = path


_settle_cv2()
