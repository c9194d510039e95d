"""The Flask app of one worker: SageMaker's /ping, /invocations and /execution-parameters (and a multi-model
endpoint's /models, multi_model.py).

gunicorn builds it in each worker after fork (``create_app()``), and the model is loaded before the worker
takes its first connection: a worker that answers at all has its model, so /ping here only says 200 (behind
nginx, nginx answers /ping itself from the workers' readiness: nginx_config.py). Every
error is a JSON body {"error": "<one line>"} with its status; a traceback goes only to the log.
"""

import dataclasses
import itertools
import logging
import os
from collections.abc import Callable, Sized
from pathlib import Path

import mxnet as mx
import numpy as np
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import devices
from ..environment import Paths
from . import codecs, custom_attributes, handlers, inputs, multi_model
from .batching import Batcher
from .body import BodyStream, discard_rest, read_body
from .errors import BadRequest, PayloadTooLarge, ServingError
from .model_memory import Budget
from .predictor import MAX_BATCH, Predictor, served_precision
from .registry import Registry
from .runtime import RuntimeDir
from .settings import Settings

log = logging.getLogger(__name__)
MAX_ERROR_CHARACTERS = 500


def _model_input(payload, number, item, preprocessing, limits):
    try:
        return inputs.model_input(item, preprocessing, limits)
    except ServingError as error:
        if not payload.several:
            raise
        raise type(error)(f"Image {number}: {error}") from None


def _too_many(max_images, count=None):
    held = f"{count} images, more than the {max_images}" if count else f"more than the {max_images} images"
    return PayloadTooLarge(f"The request holds {held} that IMAGE_CLASSIFIER_MAX_IMAGES allows")


def _probabilities(model, preprocessing, payload, settings):
    """Each image through the model, MAX_BATCH at a time as they are read, so memory does not grow with the
    request's bytes: only its probabilities are kept."""
    if isinstance(payload.items, Sized) and len(payload.items) > settings.max_images:
        raise _too_many(settings.max_images, len(payload.items))
    images, outputs, count = iter(payload.items), [], 0
    while chunk := list(itertools.islice(images, MAX_BATCH)):
        if count + len(chunk) > settings.max_images:
            raise _too_many(settings.max_images)
        with model.preparing():  # until its batch is queued: a pass about to start waits for it
            numbered = enumerate(chunk, count + 1)
            batch = np.stack(
                [_model_input(payload, number, item, preprocessing, settings.image_limits) for number, item in numbered]
            )
            outputs.append(model.predict(batch))
        count += len(chunk)
    if not count:
        raise BadRequest("The request holds no image")
    return np.concatenate(outputs)


def _error(status, message):
    discard_rest(request.environ)
    line = " ".join(str(message).split())[:MAX_ERROR_CHARACTERS]
    return jsonify(error=line), status


def _add_error_handlers(app):
    @app.errorhandler(ServingError)
    def client_error(error):
        log.info("%d %s %s: %s", error.status, request.method, request.path, error)
        return _error(error.status, error)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return _error(error.code, error.description)

    @app.errorhandler(Exception)
    def internal_error(error):
        log.exception("500 %s %s", request.method, request.path)
        return _error(500, f"Internal error ({type(error).__name__}); the endpoint's log has the details")


class Invocations:
    """/invocations' answer with our own steps, for one model: its requests take turns at it (batching.py)."""

    def __init__(self, settings: Settings, predictor: Predictor) -> None:
        self.settings = settings
        self.predictor = predictor
        self.model = Batcher(predictor, max(1, settings.dynamic_batch or 1))  # requests take turns in arrival order

    def __call__(self) -> Response:
        settings, predictor = self.settings, self.predictor
        if request.mimetype in codecs.STREAMED:
            stream = BodyStream(
                request.environ, settings.max_stream_bytes, settings.max_payload_bytes, settings.payload_limit_text()
            )
            payload = codecs.streamed_payload(request.mimetype, stream)
        else:
            body = read_body(request.environ, settings.max_payload_bytes, settings.payload_limit_text())
            payload = codecs.decoder_for(request.mimetype)(body)
        media_type = codecs.response_type(request.headers.get("Accept"), settings.default_accept)
        options = custom_attributes.parse(request.headers.get(custom_attributes.HEADER), predictor.num_classes)
        probabilities = _probabilities(self.model, predictor.preprocessing, payload, settings)
        pieces = codecs.encode_pieces(media_type, probabilities, payload.several, options.top_k, predictor.class_names)
        answer = pieces if len(probabilities) > codecs.RESULTS_PER_PIECE else "".join(pieces)
        return Response(answer, mimetype=media_type)


def model_endpoint(
    model_dir: Path,
    settings: Settings,
    ctx: mx.Context,
    predictor: Predictor | None = None,
    modules: str | None = None,
) -> Callable[[], Response]:
    """The model in ``model_dir`` loaded, as the view that answers an invocation of it: through the user's
    inference code when the directory has it (handlers.py; ``modules``, one of several models' own place in
    sys.modules), else ours."""
    program = handlers.program_path(model_dir, os.environ)
    if program:
        return handlers.Handlers(program, model_dir, settings, ctx, predictor, modules).invocations
    return Invocations(settings, predictor or Predictor.load(model_dir, ctx, settings.precision))


def _refuse_invocations():
    raise BadRequest(
        "This endpoint serves several models (SAGEMAKER_MULTI_MODEL=true): invoke one with POST /models/NAME/invoke, "
        "or through SageMaker's InvokeEndpoint with TargetModel"
    )


def create_app(settings: Settings | None = None, predictor: Predictor | None = None) -> Flask:
    """The app of one worker, its model loaded (from /opt/ml/model onto the worker's device by default).

    With the user's inference code in the model directory (handlers.py), /invocations goes through it instead.
    With SAGEMAKER_MULTI_MODEL=true it starts with no model and serves those POST /models loads (multi_model.py).
    """
    settings = settings or Settings.from_environ(os.environ)
    model_dir = Paths.from_environ().model_dir
    if not settings.multi_model:  # the precision of /opt/ml/model's files, before the device is chosen for it
        settings = dataclasses.replace(settings, precision=served_precision(model_dir, settings.precision))
    ctx = devices.serving_context(settings.worker_slot, settings.precision)
    app = Flask(__name__)
    _add_error_handlers(app)

    @app.get("/ping")
    def ping():
        return Response(status=200)

    @app.get("/execution-parameters")
    def execution_parameters():
        return jsonify(settings.execution_parameters())

    if settings.multi_model:
        app.add_url_rule("/invocations", "invocations", _refuse_invocations, methods=["POST"])
        runtime = RuntimeDir.from_environ(os.environ)
        loaded = multi_model.WorkerModels(
            Registry(runtime.models_dir),
            lambda path, modules: model_endpoint(path, settings, ctx, modules=modules),
            Budget(settings.multi_model_memory_bytes, settings.workers or 1, settings.precision),
            runtime.worker_pids,
            unload_wait=settings.timeout,
        )
        loaded.watch()
        multi_model.add_routes(app, loaded)
    else:
        invocations = model_endpoint(model_dir, settings, ctx, predictor)
        app.add_url_rule("/invocations", "invocations", invocations, methods=["POST"])
    return app
