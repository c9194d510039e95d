"""Serving settings from the environment, and the worker plan for a machine."""

import os

import pytest
from PIL import Image

from image_classifier.errors import UserError
from image_classifier.serving import settings as settings_module
from image_classifier.serving import workers
from image_classifier.serving.settings import MB, PILLOW_MAX_PIXELS, ImageLimits, Settings, memory_bytes


def test_defaults_follow_sagemaker():
    settings = Settings.from_environ({})
    assert (settings.port, settings.host, settings.workers, settings.timeout) == (8080, "0.0.0.0", None, 60)
    assert settings.default_accept == "application/json"
    assert settings.precision is None  # by the model directory's files: float32 unless only int8 is there
    assert settings.max_payload_bytes == 6 * 1024 * 1024
    assert settings.execution_parameters() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_environment_overrides():
    settings = Settings.from_environ(
        {
            "SAGEMAKER_BIND_TO_PORT": "9000",
            "IMAGE_CLASSIFIER_BIND_HOST": "127.0.0.1",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "120",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
            "SAGEMAKER_BATCH_STRATEGY": "SingleRecord",
            "IMAGE_CLASSIFIER_DYNAMIC_BATCH": "8",
            "IMAGE_CLASSIFIER_PRECISION": "INT8",
        }
    )
    assert (settings.port, settings.host, settings.workers, settings.timeout) == (9000, "127.0.0.1", 3, 120)
    assert (settings.default_accept, settings.dynamic_batch) == ("application/jsonlines", 8)
    assert settings.precision == "int8"
    assert settings.execution_parameters() == {
        "MaxConcurrentTransforms": 6,
        "BatchStrategy": "SINGLE_RECORD",
        "MaxPayloadInMB": 20,
    }


@pytest.mark.parametrize("value, expected", [("", False), ("false", False), ("true", True), ("TRUE", True)])
def test_multi_model_is_sagemakers_flag(value, expected):
    assert Settings.from_environ({"SAGEMAKER_MULTI_MODEL": value}).multi_model is expected


def test_max_concurrent_transforms_is_honoured():
    settings = Settings.from_environ(
        {"SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "5", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    )
    assert settings.execution_parameters()["MaxConcurrentTransforms"] == 5


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("SAGEMAKER_BIND_TO_PORT", "http", "SAGEMAKER_BIND_TO_PORT must be a whole number from 1 to 65535, not 'http'"),
        ("SAGEMAKER_BIND_TO_PORT", "70000", "from 1 to 65535, not '70000'"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0", "SERVER_WORKERS must be a whole number of at least 1, not '0'"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv", "must be one of application/json, application/jsonlines"),
        ("SAGEMAKER_BATCH_STRATEGY", "ALL", "must be MULTI_RECORD or SINGLE_RECORD, not 'ALL'"),
        ("IMAGE_CLASSIFIER_MAX_PIXELS", "999999999999", f"from 1 to {PILLOW_MAX_PIXELS}"),
        (
            "IMAGE_CLASSIFIER_MAX_DECODED_MB",
            "0",
            "IMAGE_CLASSIFIER_MAX_DECODED_MB must be a whole number of at least 1",
        ),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "-1", "SAGEMAKER_MAX_PAYLOAD_IN_MB must be a whole number of at least 0"),
        ("IMAGE_CLASSIFIER_BODY_TIMEOUT", "0", "IMAGE_CLASSIFIER_BODY_TIMEOUT must be a whole number of at least 1"),
        ("SAGEMAKER_MULTI_MODEL", "yes", "SAGEMAKER_MULTI_MODEL must be true or false, not 'yes'"),
        (
            "IMAGE_CLASSIFIER_PRECISION",
            "float16",
            "IMAGE_CLASSIFIER_PRECISION must be one of float32, int8, not 'float16'",
        ),
    ],
)
def test_invalid_values_say_what_is_accepted(name, value, message):
    with pytest.raises(UserError, match=message):
        Settings.from_environ({name: value})


def test_decoded_image_limit_is_sized_to_the_workers_memory(monkeypatch):
    monkeypatch.setattr(settings_module, "memory_bytes", lambda: 24 * 1024 * MB)
    assert Settings.from_environ({}).max_decoded_bytes == 256 * MB  # 24 GB / (6 x 1 worker x 16 threads)
    two_workers = {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "IMAGE_CLASSIFIER_REQUEST_THREADS": "4"}
    assert Settings.from_environ(two_workers).max_decoded_bytes == 512 * MB
    assert Settings.from_environ({**two_workers, "SAGEMAKER_MODEL_SERVER_WORKERS": "4"}).max_decoded_bytes == 256 * MB
    assert Settings.from_environ({"IMAGE_CLASSIFIER_MAX_DECODED_MB": "100"}).image_limits == ImageLimits(
        max_pixels=50_000_000, max_decoded_bytes=100 * MB
    )


def test_memory_is_the_cgroups_limit_within_the_machines(tmp_path):
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    contents = {"v2": "1073741824\n", "v2-unlimited": "max\n", "v1-unlimited": str(2**63 - 4096)}
    for name, text in contents.items():
        (tmp_path / name).write_text(text)
    assert memory_bytes((tmp_path / "v2",)) == 1024 * MB
    assert memory_bytes((tmp_path / "missing", tmp_path / "v2-unlimited")) == physical
    assert memory_bytes((tmp_path / "missing", tmp_path / "v1-unlimited")) == physical
    assert memory_bytes((tmp_path / "missing",)) == physical


def test_pixel_limit_is_pillows_own():
    assert PILLOW_MAX_PIXELS == 2 * Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    "num_gpus, cores, requested, expected",
    [
        (0, 2, None, (1, 2)),  # this machine: one worker with both cores
        (0, 1, None, (1, 1)),
        (0, 16, None, (4, 4)),
        (0, 6, None, (1, 6)),
        (4, 32, None, (4, 8)),  # one worker per GPU
        (0, 2, 3, (3, 1)),
        (2, 8, 4, (4, 2)),
    ],
)
def test_worker_plan(num_gpus, cores, requested, expected):
    plan = workers.plan(num_gpus, cores, requested)
    assert (plan.workers, plan.model_threads) == expected


@pytest.mark.parametrize("num_gpus, requested, expected", [(0, None, 8), (0, 3, 8), (1, None, 16), (4, 2, 16)])
def test_dynamic_batching_is_planned_per_device(num_gpus, requested, expected):
    """The one place that decides batching: GPU workers batch up to a full forward pass, CPU workers up to 8."""
    assert workers.plan(num_gpus, 8, requested).dynamic_batch == expected


def test_payload_limit_zero_is_no_limit_of_ours():
    """SageMaker sets 0 for MaxPayloadInMB=0: serve starts, reports 0, and bounds a body by memory only."""
    settings = Settings.from_environ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "IMAGE_CLASSIFIER_MAX_BODY_IN_MB": "50"})
    assert settings.execution_parameters()["MaxPayloadInMB"] == 0
    assert settings.max_payload_bytes == 50 * 1024 * 1024
    assert "IMAGE_CLASSIFIER_MAX_BODY_IN_MB (50 MB" in settings.payload_limit_text()
    assert Settings.from_environ({}).payload_limit_text() == "SAGEMAKER_MAX_PAYLOAD_IN_MB (6 MB)"


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"cpu.max": "max 100000\n"}, 64),
        ({"cpu.max": "150000 100000\n"}, 2),
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, 64),
        ({}, 64),
    ],
)
def test_available_cores_honour_cgroup_quota(tmp_path, monkeypatch, files, expected):
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda _pid: set(range(64)))
    write_files(tmp_path, files)
    assert workers.available_cores(tmp_path, tmp_path / "no-sysfs") == expected


def write_files(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_hyperthreads_of_one_core_count_once(tmp_path, monkeypatch):
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 5})
    for cpu, core in {0: 0, 1: 1, 2: 0, 3: 1, 4: 2, 5: 2}.items():  # two threads per core, as on EC2
        write_files(
            tmp_path, {f"cpu{cpu}/topology/physical_package_id": "0\n", f"cpu{cpu}/topology/core_id": f"{core}\n"}
        )
    assert workers.available_cores(tmp_path / "no-cgroup", tmp_path) == 3


def test_the_multi_model_memory_budget_is_half_the_memory_unless_set(monkeypatch):
    monkeypatch.setattr(settings_module, "memory_bytes", lambda: 24 * 1024 * MB)
    assert Settings.from_environ({}).multi_model_memory_bytes == 12 * 1024 * MB
    budget = Settings.from_environ({"IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB": "4096"}).multi_model_memory_bytes
    assert budget == 4096 * MB
    with pytest.raises(UserError, match="IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB must be a whole number of at least 1"):
        Settings.from_environ({"IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB": "0"})
