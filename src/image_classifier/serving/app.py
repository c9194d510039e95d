"""The Flask app of one worker: SageMaker's /ping, /invocations and /execution-parameters.

gunicorn builds it in each worker after fork (``create_app()``), and the model is loaded before the worker
takes its first connection: a worker that answers at all has its model, so /ping only says 200. Every
error is a JSON body {"error": "<one line>"} with its status; a traceback goes only to the log.
"""

import logging
import os

import numpy as np
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import devices
from ..environment import Paths
from . import codecs, custom_attributes, handlers, inputs
from .batching import Batcher
from .body import closing_when_unread, read_body
from .errors import PayloadTooLarge, ServingError
from .predictor import MAX_BATCH, Predictor
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


def _probabilities(model, preprocessing, payload, limits):
    """Each image through the model, MAX_BATCH at a time, so memory does not grow with the request."""
    outputs = []
    for start in range(0, len(payload.items), MAX_BATCH):
        chunk = enumerate(payload.items[start : start + MAX_BATCH], start + 1)
        with model.preparing():  # until its batch is queued: a pass about to start waits for it
            batch = np.stack([_model_input(payload, number, item, preprocessing, limits) for number, item in chunk])
            outputs.append(model.predict(batch))
    return np.concatenate(outputs)


def _error(status, message):
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


def _add_invocations(app, settings, predictor):
    model = Batcher(predictor, max(1, settings.dynamic_batch or 1))  # requests take turns in arrival order

    @app.post("/invocations")
    def invocations():
        # The body first: an answer given with the body unread leaves the connection unusable (body.py).
        body = read_body(
            request.environ, settings.max_payload_bytes, settings.payload_limit_text(), settings.body_timeout
        )
        media_type = codecs.response_type(request.headers.get("Accept"), settings.default_accept)
        options = custom_attributes.parse(request.headers.get(custom_attributes.HEADER), predictor.num_classes)
        payload = codecs.decoder_for(request.mimetype)(body)
        if len(payload.items) > settings.max_images:
            raise PayloadTooLarge(
                f"The request holds {len(payload.items)} images, more than the "
                f"{settings.max_images} that IMAGE_CLASSIFIER_MAX_IMAGES allows"
            )
        probabilities = _probabilities(model, predictor.preprocessing, payload, settings.image_limits)
        answer = codecs.encode(media_type, probabilities, payload.several, options.top_k, predictor.class_names)
        return Response(answer, mimetype=media_type)


def create_app(settings: Settings | None = None, predictor: Predictor | None = None) -> Flask:
    """The app of one worker, its model loaded (from /opt/ml/model onto the worker's device by default).

    With the user's inference code in the model directory (handlers.py), /invocations goes through it instead.
    """
    settings = settings or Settings.from_environ(os.environ)
    model_dir = Paths.from_environ().model_dir
    ctx = devices.serving_context(settings.worker_slot, settings.precision)
    program = handlers.program_path(model_dir, os.environ)
    app = Flask(__name__)
    _add_error_handlers(app)

    @app.get("/ping")
    def ping():
        return Response(status=200)

    @app.get("/execution-parameters")
    def execution_parameters():
        return jsonify(settings.execution_parameters())

    if program:
        user_code = handlers.Handlers(program, model_dir, settings, ctx, predictor)
        app.add_url_rule("/invocations", view_func=user_code.invocations, methods=["POST"])
    else:
        _add_invocations(app, settings, predictor or Predictor.load(model_dir, ctx, settings.precision))
    app.wsgi_app = closing_when_unread(app.wsgi_app)
    return app
