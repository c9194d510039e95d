"""A multi-model endpoint's management and invocation API (SAGEMAKER_MULTI_MODEL=true), as SageMaker calls it:

    POST   /models              {"model_name": NAME, "url": DIR}: 200 loaded, 409 NAME is loaded, 404 no DIR,
                                400 DIR is not a model (the message says what is wrong), 507 it would pass
                                the memory budget (model_memory.py), checked before it is loaded
    GET    /models              {"models": [{"modelName", "modelUrl"}, ...], "nextPageToken"}, by name, in
                                pages of ``limit`` (default DEFAULT_PAGE, at most MAX_PAGE) from ``next_page_token``
    GET    /models/NAME         {"modelName", "modelUrl"}
    DELETE /models/NAME         unloaded from every worker, its invocations in flight finished first
    POST   /models/NAME/invoke  /invocations' requests and answers, for model NAME

Every worker answers for every model: the registry (registry.py) says which models are loaded, and each worker
consults it on every one of these requests. A worker loads a registered model it does not hold the first time
it is asked for it, and drops every model it holds that is no longer registered (or was registered anew): a
model loaded through one worker is invocable through all. Each worker therefore holds its own copy of each
model it has served, its user code (handlers.py) under module names of its own.

An unload moves the entry aside: from then on every worker answers 404 for the model. Each worker watches the
registry from a thread of its own and, once the invocations it is running on the model have finished, drops
its copy and says so in the registry; DELETE answers when every live worker (runtime.py's ready workers) has,
so the memory is free when it answers. The wait is bounded by SAGEMAKER_MODEL_SERVER_TIMEOUT, which bounds
the invocations too: a worker that has not let go by then (stopped, stuck) drops the model at its next look.
A worker that exits is no longer waited for (gunicorn's arbiter withdraws it); its replacement starts empty and
loads again on demand. A registered model whose directory is gone (or no longer a model) when a worker loads it
is a 404, and its entry is dropped for all.
Invocations are logged with SageMaker's X-Amzn-SageMaker-Target-Model header (the archive's name).
"""

import gc
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mxnet as mx
from flask import Flask, Response, jsonify, request

from ..errors import UserError, error_line
from . import handlers
from .body import read_body
from .errors import BadRequest, Conflict, NotFound
from .model_memory import Budget
from .registry import Entry, Registry

log = logging.getLogger(__name__)
TARGET_MODEL_HEADER = "X-Amzn-SageMaker-Target-Model"
DEFAULT_PAGE = 100
MAX_PAGE = 1000
MAX_MANAGEMENT_BYTES = 64 * 1024  # a POST /models body: a name and a path
WATCH_INTERVAL = 0.05  # seconds between a worker's looks for models being unloaded

Endpoint = Callable[[], Response]  # a loaded model, as the view answering its invocation (app.model_endpoint)


def _not_loaded(name: str) -> NotFound:
    return NotFound(f"Model {name!r} is not loaded; load it with POST /models")


def _already_loaded(name: str) -> Conflict:
    return Conflict(f"Model {name!r} is already loaded; unload it with DELETE /models/{name} first")


class WorkerModels:
    """The models one worker holds, kept in step with the registry; ``load`` makes a model's endpoint."""

    def __init__(
        self,
        registry: Registry,
        load: Callable[[Path, str], Endpoint],
        budget: Budget,
        live_workers: Callable[[], set[int]],
        unload_wait: float,
    ) -> None:
        """``load(model_dir, modules)`` makes a model's endpoint, its user code in sys.modules under ``modules``;
        ``live_workers()``: the pids of the workers an unload waits for, at most ``unload_wait`` seconds."""
        self.registry = registry
        self._load = load
        self._budget = budget
        self._live_workers = live_workers
        self._unload_wait = unload_wait
        self._held: dict[str, tuple[str, Endpoint]] = {}  # name -> (load id, endpoint)
        self._in_flight: dict[str, int] = {}  # load id -> invocations running
        self._released: set[str] = set()  # the unloads this worker has let go for
        self._changed = threading.Condition()  # guards all of the above; notified when an invocation ends
        self._loading = threading.Lock()  # one load at a time in a worker
        self._letting_go = threading.Lock()  # the watch and an unload answered here: one at a time

    def watch(self) -> None:
        """Lets go of each model being unloaded as soon as it is moved aside (registry.py), in a thread of its own,
        so that DELETE /models/NAME answered through another worker finds this one done."""
        threading.Thread(target=self._watch, name="multi-model-registry", daemon=True).start()

    def _watch(self):
        while self.registry.root.is_dir():  # gone with serve's runtime directory
            try:
                self.let_go_of_unloaded()
            except FileNotFoundError:
                return
            except Exception:  # noqa: BLE001 - the watch goes on: a fault here must not leave unloads unanswered
                log.exception("Watching the registry of models failed")
            time.sleep(WATCH_INTERVAL)

    def let_go_of_unloaded(self) -> None:
        """Drops the models being unloaded or unregistered, waiting (at most ``unload_wait`` each) for the
        invocations running on them to finish, and tells the registry of every unload it has let go for."""
        with self._letting_go:
            self.forget_unregistered()
            unloading = self.registry.unloading()
            for unload_id, entry in unloading.items():
                if unload_id not in self._released:
                    self._let_go(entry)
                    self.registry.release(unload_id, os.getpid())
                    self._released.add(unload_id)
            self._released &= set(unloading)

    def _let_go(self, entry):
        deadline = time.monotonic() + self._unload_wait
        with self._changed:
            held = [name for name, (load_id, _) in self._held.items() if load_id == entry.load_id]
            self._drop(held)
            held = held or entry.load_id in self._in_flight
            while self._in_flight.get(entry.load_id) and self._changed.wait(max(0, deadline - time.monotonic())):
                pass
        if held:
            gc.collect()  # the model's executors, free now rather than at the next collection

    def _drop(self, names):
        """Drops held models ``names``; the caller holds ``_changed``."""
        for name in names:
            load_id, _ = self._held.pop(name)
            handlers.drop_modules(handlers.module_prefix(load_id))
            log.info("Model %r unloaded from worker %d", name, os.getpid())

    def forget_unregistered(self) -> None:
        """Drops the models held whose entries are gone (one directory read)."""
        registered = self.registry.file_names()
        with self._changed:
            self._drop([name for name in self._held if self.registry.file_name(name) not in registered])

    def _acquire_held(self, entry):
        """The held endpoint of ``entry``, counted in flight; None when this worker does not hold it."""
        with self._changed:
            held = self._held.get(entry.name)
            if not held or held[0] != entry.load_id:
                return None
            self._in_flight[entry.load_id] = self._in_flight.get(entry.load_id, 0) + 1
            return held[1]

    @contextmanager
    def invoking(self, name: str) -> Iterator[Endpoint]:
        """Model ``name``'s endpoint, loaded here first if this worker does not hold it yet; 404 when unregistered.
        Its unload waits for the block to end."""
        entry = self.registry.get(name)
        if entry is None:
            raise _not_loaded(name)
        endpoint = self._acquire_held(entry)
        if endpoint is None:
            with self._loading:
                endpoint = self._acquire_held(entry)
                if endpoint is None:
                    endpoint = self._load_registered(entry)
                    if not self._hold(entry, endpoint, invoking=True):
                        raise _not_loaded(name)  # unloaded while it loaded here
                    log.info("Model %r from %s loaded into worker %d on demand", name, entry.url, os.getpid())
        try:
            yield endpoint
        finally:
            with self._changed:
                self._in_flight[entry.load_id] -= 1
                if not self._in_flight[entry.load_id]:
                    del self._in_flight[entry.load_id]
                self._changed.notify_all()

    def _load_registered(self, entry):
        """Loads a registered model here; 404 (its entry dropped) when its directory is gone or no longer a model:
        the files were removed after it was loaded (SageMaker removes them when it unloads the model)."""
        try:
            return self._load(Path(entry.url), handlers.module_prefix(entry.load_id))
        except (UserError, mx.base.MXNetError, OSError) as error:
            if not Path(entry.url).is_dir():
                problem = f"its directory {entry.url} is gone"
            elif isinstance(error, OSError):  # the files are there: a read error, too many open files
                raise
            elif isinstance(error, mx.base.MXNetError):
                problem = f"its directory {entry.url} no longer holds a model MXNet can load: {error_line(error)}"
            else:
                problem = f"its directory {entry.url} no longer holds a model this endpoint serves: {error}"
            self.registry.remove_entry(entry)
            self.forget_unregistered()
            log.warning("Model %r unloaded: %s", entry.name, problem)
            message = f"Model {entry.name!r} is not loaded any more: {problem}; load it again with POST /models"
            raise NotFound(message) from None

    def _hold(self, entry, endpoint, invoking=False):
        """Holds ``entry``'s model (counted in flight when ``invoking``); False, and dropped, when its entry is
        no longer registered."""
        with self._changed:
            if self.registry.get(entry.name) != entry:
                handlers.drop_modules(handlers.module_prefix(entry.load_id))
                return False
            if entry.name in self._held:
                self._drop([entry.name])
            self._held[entry.name] = (entry.load_id, endpoint)
            if invoking:
                self._in_flight[entry.load_id] = self._in_flight.get(entry.load_id, 0) + 1
        return True

    def add(self, name: str, url: str) -> Entry:
        """Loads the model in directory ``url`` here, then registers it for every worker."""
        if self.registry.get(name) is not None:
            raise _already_loaded(name)
        model_dir = Path(url)
        if not model_dir.exists():
            raise NotFound(f"The model directory {url} does not exist")
        if not model_dir.is_dir():
            raise BadRequest(f"{url} is a file, not a model directory (SageMaker's url is the unpacked archive's)")
        with self.registry.locked(), self._loading:
            if self.registry.get(name) is not None:
                raise _already_loaded(name)
            entry = Entry.new(name, url, self._budget.check(name, model_dir, self.registry.used_bytes()))
            try:
                endpoint = self._load(model_dir, handlers.module_prefix(entry.load_id))
            except UserError as error:
                raise BadRequest(f"{url} is not a model this endpoint serves: {error}") from None
            except mx.base.MXNetError as error:
                raise BadRequest(f"{url} is not a model MXNet can load: {error_line(error)}") from None
            if not self.registry.add(entry):
                handlers.drop_modules(handlers.module_prefix(entry.load_id))
                raise _already_loaded(name)
        self._hold(entry, endpoint)
        log.info("Model %r loaded from %s", name, url)
        return entry

    def remove(self, name: str) -> None:
        """Unloads ``name`` from every worker: answers once each live worker has let go of it, its invocations
        in flight finished (at most ``unload_wait`` seconds; a worker that has not by then drops it at its next
        call)."""
        unload_id = self.registry.begin_unload(name)
        if unload_id is None:
            raise _not_loaded(name)
        started = time.monotonic()
        try:
            self.let_go_of_unloaded()
            while (waiting := self._live_workers() - self.registry.released(unload_id)) and (
                time.monotonic() - started < self._unload_wait
            ):
                time.sleep(WATCH_INTERVAL)
        finally:
            self.registry.end_unload(unload_id)
        if waiting:
            log.warning(
                "Model %r unloaded; workers %s did not let go of it within %.0f s (they drop it at their next call)",
                name,
                ", ".join(map(str, sorted(waiting))),
                self._unload_wait,
            )
        else:
            log.info("Model %r unloaded from every worker in %.2f s", name, time.monotonic() - started)


def _load_request():
    body = read_body(request.environ, MAX_MANAGEMENT_BYTES, f"POST /models's limit ({MAX_MANAGEMENT_BYTES} bytes)")
    try:
        fields = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(f"POST /models takes a JSON object {{'model_name': ..., 'url': ...}}: {error}") from None
    if not isinstance(fields, dict):
        raise BadRequest("POST /models takes a JSON object {'model_name': ..., 'url': ...}")
    values = [fields.get(key) for key in ("model_name", "url")]
    for key, value in zip(("model_name", "url"), values, strict=True):
        if not isinstance(value, str) or not value:
            raise BadRequest(f"POST /models needs '{key}', a non-empty string")
    return values


def _page(arguments):
    values = {}
    for key, default, most in (("limit", DEFAULT_PAGE, MAX_PAGE), ("next_page_token", 0, None)):
        text = arguments.get(key, str(default))
        minimum = 1 if key == "limit" else 0
        if not text.isdigit() or int(text) < minimum or (most is not None and int(text) > most):
            bound = f"from 1 to {most}" if most else "of at least 0 (the nextPageToken of the page before)"
            raise BadRequest(f"{key} must be a whole number {bound}, not {text!r}")
        values[key] = int(text)
    return values["limit"], values["next_page_token"]


def add_routes(app: Flask, models: WorkerModels) -> None:
    @app.post("/models")
    def load():
        models.forget_unregistered()
        name, url = _load_request()
        entry = models.add(name, url)
        return jsonify(status=f"Model {entry.name!r} loaded", **entry.description())

    @app.get("/models")
    def list_models():
        models.forget_unregistered()
        limit, start = _page(request.args)
        entries = models.registry.entries()
        page = {"models": [entry.description() for entry in entries[start : start + limit]]}
        if start + limit < len(entries):
            page["nextPageToken"] = str(start + limit)
        return jsonify(page)

    @app.get("/models/<name>")
    def describe(name):
        models.forget_unregistered()
        entry = models.registry.get(name)
        if entry is None:
            raise _not_loaded(name)
        return jsonify(entry.description())

    @app.delete("/models/<name>")
    def unload(name):
        models.remove(name)
        return jsonify(status=f"Model {name!r} unloaded")

    @app.post("/models/<name>/invoke")
    def invoke(name):
        models.forget_unregistered()
        target = request.headers.get(TARGET_MODEL_HEADER)
        log.info("Invoking model %r in worker %d (%s: %s)", name, os.getpid(), TARGET_MODEL_HEADER, target)
        with models.invoking(name) as endpoint:
            return endpoint()
