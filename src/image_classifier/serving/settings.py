"""The environment variables ``serve`` reads: SageMaker's, then ours (IMAGE_CLASSIFIER_*), checked once.

SageMaker's, as its inference containers read them:
    SAGEMAKER_BIND_TO_PORT               8080
    SAGEMAKER_MODEL_SERVER_WORKERS       sized to the machine (see workers.py)
    SAGEMAKER_MODEL_SERVER_TIMEOUT       60 seconds
    SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT application/json (the answer to a missing or */* Accept)
    SAGEMAKER_MAX_PAYLOAD_IN_MB          6; 0 (MaxPayloadInMB=0) is no limit of ours: JSON Lines and RecordIO
                                         bodies of any size (read in pieces, body.py), others up to
                                         IMAGE_CLASSIFIER_MAX_BODY_IN_MB, chunked or not
    SAGEMAKER_MAX_CONCURRENT_TRANSFORMS  2 per worker (reported by /execution-parameters)
    SAGEMAKER_BATCH_STRATEGY             MULTI_RECORD (reported by /execution-parameters)
    SAGEMAKER_MULTI_MODEL                false; true (a multi-model endpoint): start with no model and serve
                                         those POST /models loads (multi_model.py)
Ours:
    IMAGE_CLASSIFIER_BIND_HOST           0.0.0.0 (every interface); 127.0.0.1 keeps a local test private
    IMAGE_CLASSIFIER_REQUEST_THREADS     16 whole requests handled at once by each worker (they take turns at
                                         the model, in arrival order)
    IMAGE_CLASSIFIER_MAX_PIXELS          50000000 pixels per image, checked from its header (at most
                                         178956970, Pillow's own limit)
    IMAGE_CLASSIFIER_MAX_IMAGES          1000 images per request
    IMAGE_CLASSIFIER_MAX_DECODED_MB      sized to the worker's memory: the most one image may take decoded
                                         (pixels x channels x bytes per sample, from its header); by
                                         default the memory / (6 x workers x request threads), so that
                                         every request thread can hold about three copies of its image
                                         in half of the memory
    IMAGE_CLASSIFIER_DYNAMIC_BATCH       planned per device (workers.py); N > 1 runs the images of
                                         concurrent requests together, up to N per forward pass; 0 or 1: off
    IMAGE_CLASSIFIER_HEADER_TIMEOUT      20 seconds for a request's head to arrive whole, counted from the
                                         connection's start (or the previous answer's end on a keep-alive
                                         connection: then IMAGE_CLASSIFIER_KEEPALIVE_TIMEOUT); a connection
                                         silent that long is closed (nginx_config.py)
    IMAGE_CLASSIFIER_BODY_TIMEOUT        20 seconds the body may pause between two reads, else the upload is cut
    IMAGE_CLASSIFIER_KEEPALIVE_TIMEOUT   75 seconds an idle keep-alive connection stays open (longer than a load
                                         balancer's usual 60 s)
    IMAGE_CLASSIFIER_MAX_BODY_IN_MB      100: our memory bound on one body read whole, or on one line or record
                                         of JSON Lines and RecordIO, when SAGEMAKER_MAX_PAYLOAD_IN_MB=0
    IMAGE_CLASSIFIER_PRECISION           unset: int8 when the model directory holds only the int8 model, else
                                         float32; int8 serves the int8 model that quantize=int8 (or
                                         image-classifier quantize) wrote (CPU only)
    IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB  sized to the container's memory: the most the models of a multi-model
                                         endpoint may take in all its workers together (model_memory.py); by
                                         default half of the memory (the other half is the decoded images')
"""

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .media_types import RESPONSE_TYPES

WORKER_SLOT_ENV = "IMAGE_CLASSIFIER_WORKER_SLOT"  # set by gunicorn_config in each worker, not by users
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")
PRECISIONS = ("float32", "int8")
PILLOW_MAX_PIXELS = 178_956_970  # 2 x PIL.Image.MAX_IMAGE_PIXELS: Pillow refuses to open larger images
MB = 1024 * 1024
DECODE_MEMORY_SHARE = 6  # 2 (half the memory) x 3 (decoded image, its conversion, its array)
MODEL_MEMORY_SHARE = 2  # a multi-model endpoint's models: the half of the memory the decoded images leave
CGROUP_MEMORY_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


@functools.cache
def memory_bytes(limit_files: tuple = CGROUP_MEMORY_LIMITS) -> int:
    """The memory the container may use: its cgroup's limit (v2 or v1), else the machine's."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in limit_files:
        try:
            text = limit_file.read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # v2 says "max" without a limit, v1 a number beyond the machine's memory
            return min(int(text), physical)
    return physical


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int
    max_decoded_bytes: int


def _whole_number(environ, name, default, minimum, maximum=None):
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise UserError(f"{name} must be a whole number {bounds}, not '{text}'")
    return value


def _response_type(environ, name, default):
    value = environ.get(name, "").strip().lower() or default
    if value not in RESPONSE_TYPES:
        raise UserError(f"{name} must be one of {', '.join(RESPONSE_TYPES)}, not '{value}'")
    return value


def _batch_strategy(environ, name, default):
    text = environ.get(name, "").strip()
    if not text:
        return default
    spelled = {strategy.replace("_", ""): strategy for strategy in BATCH_STRATEGIES}
    strategy = spelled.get(text.replace("_", "").upper())
    if strategy is None:
        raise UserError(f"{name} must be MULTI_RECORD or SINGLE_RECORD, not '{text}'")
    return strategy


def _flag(environ, name, default):
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    if text not in ("true", "false"):
        raise UserError(f"{name} must be true or false, not '{environ[name].strip()}'")
    return text == "true"


def _precision(environ, name, default):
    value = environ.get(name, "").strip().lower() or default
    if value is not None and value not in PRECISIONS:
        raise UserError(f"{name} must be one of {', '.join(PRECISIONS)}, not '{value}'")
    return value


@dataclass(frozen=True)
class Settings:
    port: int = 8080
    host: str = "0.0.0.0"
    workers: int | None = None
    timeout: int = 60
    default_accept: str = "application/json"
    max_payload_mb: int = 6
    max_concurrent_transforms: int | None = None
    batch_strategy: str = "MULTI_RECORD"
    request_threads: int = 16
    max_pixels: int = 50_000_000
    max_images: int = 1000
    dynamic_batch: int | None = None
    worker_slot: int = 0
    max_decoded_mb: int | None = None  # None: sized to the worker's memory (max_decoded_bytes)
    header_timeout: int = 20
    body_timeout: int = 20
    keepalive_timeout: int = 75
    max_body_mb: int = 100
    multi_model: bool = False
    precision: str | None = None  # the model files served: float32, int8 (quantize=int8's); None: by the files
    multi_model_memory_mb: int | None = None  # None: sized to the container's memory (multi_model_memory_bytes)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "Settings":
        defaults = cls()
        return cls(
            port=_whole_number(environ, "SAGEMAKER_BIND_TO_PORT", defaults.port, 1, 65535),
            host=environ.get("IMAGE_CLASSIFIER_BIND_HOST", "").strip() or defaults.host,
            workers=_whole_number(environ, "SAGEMAKER_MODEL_SERVER_WORKERS", defaults.workers, 1),
            timeout=_whole_number(environ, "SAGEMAKER_MODEL_SERVER_TIMEOUT", defaults.timeout, 1),
            default_accept=_response_type(environ, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", defaults.default_accept),
            max_payload_mb=_whole_number(environ, "SAGEMAKER_MAX_PAYLOAD_IN_MB", defaults.max_payload_mb, 0),
            max_concurrent_transforms=_whole_number(
                environ, "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", defaults.max_concurrent_transforms, 1
            ),
            batch_strategy=_batch_strategy(environ, "SAGEMAKER_BATCH_STRATEGY", defaults.batch_strategy),
            request_threads=_whole_number(environ, "IMAGE_CLASSIFIER_REQUEST_THREADS", defaults.request_threads, 1),
            max_pixels=_whole_number(environ, "IMAGE_CLASSIFIER_MAX_PIXELS", defaults.max_pixels, 1, PILLOW_MAX_PIXELS),
            max_images=_whole_number(environ, "IMAGE_CLASSIFIER_MAX_IMAGES", defaults.max_images, 1),
            dynamic_batch=_whole_number(environ, "IMAGE_CLASSIFIER_DYNAMIC_BATCH", defaults.dynamic_batch, 0),
            worker_slot=_whole_number(environ, WORKER_SLOT_ENV, defaults.worker_slot, 0),
            max_decoded_mb=_whole_number(environ, "IMAGE_CLASSIFIER_MAX_DECODED_MB", defaults.max_decoded_mb, 1),
            header_timeout=_whole_number(environ, "IMAGE_CLASSIFIER_HEADER_TIMEOUT", defaults.header_timeout, 1),
            body_timeout=_whole_number(environ, "IMAGE_CLASSIFIER_BODY_TIMEOUT", defaults.body_timeout, 1),
            keepalive_timeout=_whole_number(
                environ, "IMAGE_CLASSIFIER_KEEPALIVE_TIMEOUT", defaults.keepalive_timeout, 1
            ),
            max_body_mb=_whole_number(environ, "IMAGE_CLASSIFIER_MAX_BODY_IN_MB", defaults.max_body_mb, 1),
            multi_model=_flag(environ, "SAGEMAKER_MULTI_MODEL", defaults.multi_model),
            precision=_precision(environ, "IMAGE_CLASSIFIER_PRECISION", defaults.precision),
            multi_model_memory_mb=_whole_number(
                environ, "IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB", defaults.multi_model_memory_mb, 1
            ),
        )

    @property
    def max_payload_bytes(self) -> int:
        """The most bytes one body may have: SAGEMAKER_MAX_PAYLOAD_IN_MB, or our memory bound when that is 0."""
        return (self.max_payload_mb or self.max_body_mb) * 1024 * 1024

    @property
    def max_stream_bytes(self) -> int | None:
        """The most bytes of a body read in pieces (JSON Lines, RecordIO): SAGEMAKER_MAX_PAYLOAD_IN_MB; None
        (no limit) when that is 0, each piece then within max_payload_bytes."""
        return self.max_payload_mb * 1024 * 1024 or None

    def payload_limit_text(self) -> str:
        """The setting that bounds a body, as a 413 names it."""
        if self.max_payload_mb:
            return f"SAGEMAKER_MAX_PAYLOAD_IN_MB ({self.max_payload_mb} MB)"
        return (
            f"IMAGE_CLASSIFIER_MAX_BODY_IN_MB ({self.max_body_mb} MB, the bound on one body, or on one line or "
            f"record of JSON Lines and RecordIO, when SAGEMAKER_MAX_PAYLOAD_IN_MB is 0)"
        )

    @property
    def max_decoded_bytes(self) -> int:
        if self.max_decoded_mb is not None:
            return self.max_decoded_mb * MB
        return memory_bytes() // (DECODE_MEMORY_SHARE * (self.workers or 1) * self.request_threads)

    @property
    def multi_model_memory_bytes(self) -> int:
        if self.multi_model_memory_mb is not None:
            return self.multi_model_memory_mb * MB
        return memory_bytes() // MODEL_MEMORY_SHARE

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(self.max_pixels, self.max_decoded_bytes)

    def execution_parameters(self) -> dict[str, int | str]:
        """What /execution-parameters tells batch transform: by default two requests in flight per worker,
        so that one request's images decode while another's run through the model."""
        return {
            "MaxConcurrentTransforms": self.max_concurrent_transforms or 2 * (self.workers or 1),
            "BatchStrategy": self.batch_strategy,
            "MaxPayloadInMB": self.max_payload_mb,
        }
