"""The launcher hands its worker plan to gunicorn through the variables a user would set."""

from image_classifier.serving.launcher import gunicorn_environ
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
