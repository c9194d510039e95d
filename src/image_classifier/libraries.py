"""What third-party libraries do to a process when imported, undone by the entry points that import them.

Nothing here runs on import: each entry point calls what it needs (cli.py, the gunicorn worker's
``post_fork``, tests/conftest.py), so ``image-classifier aws`` and the gunicorn arbiter never load cv2.
"""

import os
import sys


def before_mxnet() -> None:
    """Call before MXNet is imported: MXNet's subgraph log line off, and cv2 loaded once or marked absent.

    MXNet logs "Subgraph backend MKLDNN is activated" at every bind, five times at each start of ``serve``
    (one per bound batch size) and at every training epoch; ``MXNET_SUBGRAPH_VERBOSE=0`` turns it off unless
    the user set it. The environment reaches the processes started from here (gunicorn's workers, the job).

    None of our code uses cv2 (a gluoncv requirement), which MXNet tries to import. Without libGL (the Docker
    image, a bare Debian) its import fails after putting its own folder on sys.path, where its ``typing``
    package would shadow the standard library's; the path is restored here and the failure remembered, so
    nothing imports it again.
    """
    os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")
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
