"""Two things third-party libraries do to a process when imported, undone by the entry points that import them.

Nothing here runs on import: each entry point calls what it needs (cli.py, the gunicorn worker's
``post_fork``, tests/conftest.py), so ``image-classifier aws`` and the gunicorn arbiter never load cv2.
"""

import sys


def import_cv2_or_mark_absent() -> None:
    """Load opencv-python's cv2 once, or mark it absent; call before MXNet is imported (it tries cv2).

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


def refuse_truncated_images() -> None:
    """Pillow's default back: importing gluoncv turns LOAD_TRUNCATED_IMAGES on. Call after gluoncv is imported,
    so that a truncated image is refused with its name rather than half decoded (packing, and finding the image
    ImageRecordIter failed on)."""
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
