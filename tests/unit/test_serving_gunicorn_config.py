"""gunicorn's settings and hooks: the lowest free slot for each worker (a replacement takes over its
predecessor's GPU), the unix socket of the runtime directory, and readiness published and withdrawn."""

import importlib
import os
from types import SimpleNamespace

import pytest

from image_classifier.serving.runtime import RUNTIME_DIR_ENV, RuntimeDir
from image_classifier.serving.settings import WORKER_SLOT_ENV, Settings


@pytest.fixture
def runtime(monkeypatch):
    runtime = RuntimeDir.create()
    monkeypatch.setenv(RUNTIME_DIR_ENV, str(runtime.root))
    yield runtime
    runtime.remove()


@pytest.fixture
def gunicorn_config(runtime):
    from image_classifier.serving import gunicorn_config

    return importlib.reload(gunicorn_config)


def spawn(gunicorn_config, arbiter, pid):
    worker = SimpleNamespace()
    gunicorn_config.pre_fork(arbiter, worker)
    arbiter.WORKERS[pid] = worker
    return worker.slot


def test_workers_take_the_lowest_free_slot(gunicorn_config):
    arbiter = SimpleNamespace(WORKERS={})
    assert [spawn(gunicorn_config, arbiter, pid) for pid in (101, 102, 103)] == [0, 1, 2]
    del arbiter.WORKERS[102]  # the worker on slot 1 died
    assert spawn(gunicorn_config, arbiter, 104) == 1
    assert spawn(gunicorn_config, arbiter, 105) == 3


def test_the_slot_reaches_the_worker_settings(gunicorn_config, monkeypatch):
    monkeypatch.setenv(WORKER_SLOT_ENV, "0")  # restored after the test, whatever post_fork sets
    gunicorn_config.post_fork(None, SimpleNamespace(slot=3))
    assert Settings.from_environ(os.environ).worker_slot == 3


def test_gunicorn_serves_on_the_runtime_socket_with_its_stock_worker(gunicorn_config, runtime):
    assert gunicorn_config.bind == [f"unix:{runtime.socket}"]
    assert gunicorn_config.worker_class == "gthread"
    assert gunicorn_config.graceful_timeout < 30
    assert gunicorn_config.control_socket_disable


def test_ready_while_any_worker_holds_its_model(gunicorn_config, runtime):
    first, second = SimpleNamespace(pid=11), SimpleNamespace(pid=12)
    assert not runtime.ready_file.exists()
    gunicorn_config.post_worker_init(first)
    gunicorn_config.post_worker_init(second)
    gunicorn_config.child_exit(None, first)
    assert runtime.ready_file.exists()
    gunicorn_config.child_exit(None, second)  # killed, say: the arbiter withdraws it
    assert not runtime.ready_file.exists()
