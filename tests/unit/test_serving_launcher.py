"""The launcher hands its worker plan to gunicorn through the variables a user would set, and finds nginx."""

import pytest

from image_classifier.errors import UserError
from image_classifier.serving.launcher import gunicorn_environ, nginx_executable
from image_classifier.serving.workers import WorkerPlan


def test_plan_reaches_gunicorn_and_a_users_thread_count_wins():
    plan = WorkerPlan(workers=3, model_threads=2, dynamic_batch=8)
    assert gunicorn_environ({"PATH": "/bin"}, plan) == {
        "PATH": "/bin",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
        "OMP_NUM_THREADS": "2",
        "IMAGE_CLASSIFIER_DYNAMIC_BATCH": "8",
    }
    assert gunicorn_environ({"OMP_NUM_THREADS": "7"}, plan)["OMP_NUM_THREADS"] == "7"
    assert gunicorn_environ({"IMAGE_CLASSIFIER_DYNAMIC_BATCH": "1"}, plan)["IMAGE_CLASSIFIER_DYNAMIC_BATCH"] == "1"


def test_nginx_is_found_on_path_or_named_with_its_install_line(tmp_path):
    nginx = tmp_path / "nginx"
    nginx.write_text("#!/bin/sh\n")
    nginx.chmod(0o755)
    assert nginx_executable({"PATH": str(tmp_path)}, extra_dirs=()) == str(nginx)
    with pytest.raises(UserError, match=r"nginx is not installed .*`apt-get install nginx`"):
        nginx_executable({"PATH": str(tmp_path / "empty")}, extra_dirs=())
