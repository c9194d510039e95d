"""The supervisor's verdicts on a job it had to end: real child processes, the times lowered."""

import os
import signal
import time

import pytest

from image_classifier.environment import Paths
from image_classifier.errors import UserError
from image_classifier.training import supervisor, watchdog

STUCK_JOB = (
    "import os, pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "pathlib.Path(os.environ['STUCK_JOB_READY']).touch(); time.sleep(60)"
)


@pytest.fixture
def handlers_restored():
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def test_a_job_killed_after_sigterm_is_named_stuck_not_out_of_memory(tmp_path, monkeypatch, handlers_restored):
    ready = tmp_path / "ready"
    monkeypatch.setattr(supervisor, "JOB_CODE", STUCK_JOB)
    monkeypatch.setattr(supervisor, "STOP_GRACE", 1)
    monkeypatch.setenv("STUCK_JOB_READY", str(ready))
    job = supervisor.Supervisor(None)
    deadline = time.time() + 30
    while not ready.exists():  # the job ignores SIGTERM from here on
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)  # as docker stop or StopTrainingJob sends it to the supervisor
    paths = Paths(tmp_path)
    assert job.wait(paths) == 143
    assert paths.failure_file.read_text() == (
        "Training was stopped (SIGTERM) and had not ended 1 s later, so it was killed (SIGKILL), not for lack of "
        "memory: it was waiting for a host of the job that is gone, or a save took that long; what was kept before "
        "the stop is in the model directory (and the checkpoints folder, if on)\n"
    )


@pytest.mark.parametrize("text", ["0", "-5", "soon", "nan"])
def test_a_lost_host_time_that_is_no_positive_number_is_refused(text):
    with pytest.raises(UserError, match=f"IMAGE_CLASSIFIER_LOST_HOST_SECONDS='{text}' is not a number of seconds"):
        watchdog.timeout({watchdog.SECONDS_ENV: text})


def test_the_lost_host_time_defaults_to_four_minutes():
    assert watchdog.timeout({}) == 240


def test_the_watchdog_is_armed_by_the_first_beat_and_disarmed_when_the_work_is_done(monkeypatch):
    dog = watchdog.Watchdog(0.2)
    monkeypatch.setenv(watchdog.PROGRESS_FILE_ENV, str(dog.path))
    time.sleep(0.3)
    assert not dog.stalled()  # no batch yet: the hosts may still be reading their data
    assert list(watchdog.beating([1, 2])) == [1, 2]
    assert not dog.stalled()
    time.sleep(0.3)
    assert dog.stalled()
    watchdog.finished()
    assert not dog.stalled()
    dog.close()
