"""gunicorn's hooks: each worker gets the lowest free slot, so a replacement takes over its predecessor's GPU."""

import importlib
import os
from types import SimpleNamespace

from gunicorn.workers.gthread import ThreadWorker

from image_classifier.serving import gunicorn_config
from image_classifier.serving.settings import WORKER_SLOT_ENV, Settings


def spawn(arbiter, pid):
    worker = SimpleNamespace()
    gunicorn_config.pre_fork(arbiter, worker)
    arbiter.WORKERS[pid] = worker
    return worker.slot


def test_workers_take_the_lowest_free_slot():
    arbiter = SimpleNamespace(WORKERS={})
    assert [spawn(arbiter, pid) for pid in (101, 102, 103)] == [0, 1, 2]
    del arbiter.WORKERS[102]  # the worker on slot 1 died
    assert spawn(arbiter, 104) == 1
    assert spawn(arbiter, 105) == 3


def test_the_slot_reaches_the_worker_settings(monkeypatch):
    monkeypatch.setenv(WORKER_SLOT_ENV, "0")  # restored after the test, whatever post_fork sets
    gunicorn_config.post_fork(None, SimpleNamespace(slot=3))
    assert Settings.from_environ(os.environ).worker_slot == 3


def test_gunicorn_settings():
    module, _, name = gunicorn_config.worker_class.rpartition(".")
    assert issubclass(getattr(importlib.import_module(module), name), ThreadWorker)
    assert gunicorn_config.graceful_timeout < 30
    assert gunicorn_config.control_socket_disable
