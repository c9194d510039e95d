"""Errors a request can cause, each with its HTTP status; the app answers them as {"error": message}.

Anything else raised while answering a request is our fault: a 500 with a one-line message, the
traceback only in the log.
"""


class ServingError(Exception):
    status = 500


class BadRequest(ServingError):
    """The body cannot be decoded, or holds something the model cannot take."""

    status = 400


class NotAcceptable(ServingError):
    """No response type we write matches the Accept header."""

    status = 406


class PayloadTooLarge(ServingError):
    """Too many bytes, images or pixels."""

    status = 413


class UnsupportedMediaType(ServingError):
    """A Content-Type we do not read."""

    status = 415


class NotFound(ServingError):
    """A model a multi-model endpoint has not loaded, or a model directory that does not exist."""

    status = 404


class Conflict(ServingError):
    """A model name a multi-model endpoint has already loaded."""

    status = 409


class InsufficientStorage(ServingError):
    """A model a multi-model endpoint cannot load within its memory budget: SageMaker then unloads others."""

    status = 507
