"""`train` in script mode: the user's own script run by sagemaker-training's entry-point runner."""

import io
import json
import re
import signal
import socket
import tarfile
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import s3_stand_in
from PIL import Image
from serving_process import ServeProcess
from training_process import failure_text, run_train, start_train

from image_classifier import demo_data
from image_classifier.model import artifacts

SCRIPT_PAGE = Path(__file__).resolve().parents[2] / "docs" / "training-script.md"


def docs_script(name):
    """A script of docs/training-script.md: the code block starting ``# src/NAME``."""
    return re.search(rf"```python\n(# src/{re.escape(name)}\n.*?)```", SCRIPT_PAGE.read_text(), re.S).group(1)


def script_job(tmp_path, program, source, **hyperparameters):
    """A job tree with the demo data (16x16 images) whose hyperparameters run ``program`` from ``source``."""
    base_dir = demo_data.write_job(tmp_path / "ml", 64, 40, 16)
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    for name, text in source.items():
        (source_dir / name).write_text(text)
    values = {name: json.dumps(value) for name, value in hyperparameters.items()}  # as the SDK encodes them
    values.update(
        sagemaker_program=json.dumps(program),
        sagemaker_submit_directory=json.dumps(str(source_dir)),
        sagemaker_region=json.dumps("us-west-2"),
        sagemaker_container_log_level="20",
        sagemaker_job_name=json.dumps("script-mode-test"),
    )
    (base_dir / "input" / "config" / "hyperparameters.json").write_text(json.dumps(values))
    return base_dir


INPUT_FN = """
import io
import numpy as np

def input_fn(body, content_type):
    if content_type != "application/x-npy":
        raise ValueError("this endpoint reads application/x-npy")
    return np.load(io.BytesIO(body))["missing"]
"""


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_docs_script_trains_a_gluon_model_that_serve_serves(tmp_path):
    base_dir = script_job(
        tmp_path, "train.py", {"train.py": docs_script("train.py")}, epochs=2, image_size=16, batch_size=16
    )
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Epoch[1] Train-accuracy=" in result.stdout
    assert (base_dir / "output" / "success").exists()
    model_dir = base_dir / "model"
    assert artifacts.saved_epochs(model_dir) == [2]
    assert artifacts.read_preprocessing(model_dir).image_shape == (3, 16, 16)
    probabilities = artifacts.load(model_dir)(mx.nd.zeros((2, 3, 16, 16))).asnumpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)

    image = png(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    with ServeProcess(base_dir) as server:  # the default handlers
        server.wait_until_ready()
        answer = server.post(image, "image/png")
        assert answer.status_code == 200, answer.text
        assert len(answer.json()) == 4 and abs(sum(answer.json()) - 1) < 1e-4
    (model_dir / "code").mkdir()
    (model_dir / "code" / "inference.py").write_text(INPUT_FN)
    with ServeProcess(base_dir) as server:  # an input_fn of the user's, in a real gunicorn worker
        server.wait_until_ready()
        refused = server.post(image, "image/png")
        assert (refused.status_code, refused.json()) == (400, {"error": "this endpoint reads application/x-npy"})
        failed = server.post(npy(np.zeros((3, 16, 16), np.float32)), "application/x-npy")
        assert failed.status_code == 500
        assert "Traceback" in server.log and "Traceback" not in failed.text
        assert server.post(image, "image/png").status_code == 400  # the worker serves on


REPORT_SCRIPT = """
import json, os, sys
import gluoncv, image_classifier, mxnet
names = ["SM_MODEL_DIR", "SM_CHANNEL_TRAIN", "SM_CHANNEL_VALIDATION", "SM_HPS", "SM_HOSTS", "SM_CURRENT_HOST",
         "SM_NUM_GPUS", "SM_OUTPUT_DATA_DIR"]
report = {"argv": sys.argv[1:], "env": {name: os.environ[name] for name in names}, "cwd": os.getcwd()}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "report.json"), "w") as file:
    json.dump(report, file)
"""


def test_hyperparameters_become_arguments_and_the_environment_is_sagemaker_trainings(tmp_path):
    base_dir = script_job(tmp_path, "report.py", {"report.py": REPORT_SCRIPT}, epochs=3, optimizer="adam", lr=0.5)
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((base_dir / "model" / "report.json").read_text())
    assert report["argv"] == ["--epochs", "3", "--lr", "0.5", "--optimizer", "adam"]
    assert report["env"] == {
        "SM_MODEL_DIR": str(base_dir / "model"),
        "SM_CHANNEL_TRAIN": str(base_dir / "input" / "data" / "train"),
        "SM_CHANNEL_VALIDATION": str(base_dir / "input" / "data" / "validation"),
        "SM_HPS": '{"epochs":3,"lr":0.5,"optimizer":"adam"}',
        "SM_HOSTS": '["algo-1"]',
        "SM_CURRENT_HOST": "algo-1",
        "SM_NUM_GPUS": "0",
        "SM_OUTPUT_DATA_DIR": str(base_dir / "output" / "data"),
    }
    assert report["cwd"] == str(base_dir / "code")


def test_an_s3_sourcedir_tarball_as_the_sdk_uploads_it(tmp_path, monkeypatch):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        member = tarfile.TarInfo("report.py")
        member.size = len(REPORT_SCRIPT.encode())
        tar.addfile(member, io.BytesIO(REPORT_SCRIPT.encode()))
    base_dir = script_job(tmp_path, "report.py", {}, epochs=1)
    hyperparameters_path = base_dir / "input" / "config" / "hyperparameters.json"
    values = json.loads(hyperparameters_path.read_text())
    values["sagemaker_submit_directory"] = json.dumps("s3://training-code/job/source/sourcedir.tar.gz")
    hyperparameters_path.write_text(json.dumps(values))
    with s3_stand_in.server() as aws, s3_stand_in.bucket(aws, "training-code", monkeypatch) as client:
        client.put_object(Bucket="training-code", Key="job/source/sourcedir.tar.gz", Body=archive.getvalue())
        result = run_train(base_dir, env=aws)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((base_dir / "model" / "report.json").read_text())["argv"] == ["--epochs", "1"]


def test_source_already_in_opt_ml_code_as_local_mode_mounts_it(tmp_path):
    base_dir = script_job(tmp_path, "report.py", {}, epochs=1)
    (base_dir / "code").mkdir()
    (base_dir / "code" / "report.py").write_text(REPORT_SCRIPT)
    hyperparameters_path = base_dir / "input" / "config" / "hyperparameters.json"
    values = json.loads(hyperparameters_path.read_text())
    hyperparameters_path.write_text(json.dumps({**values, "sagemaker_submit_directory": json.dumps("/opt/ml/code")}))
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((base_dir / "model" / "report.json").read_text())["argv"] == ["--epochs", "1"]


FAILING_SCRIPT = """
import sys
print("starting")
if sys.argv[1:] == ["--learning_rate", "5"]:
    raise ValueError("learning_rate 5 diverges; use at most 1")
"""


def test_a_failing_script_leaves_its_error_and_exit_code(tmp_path):
    base_dir = script_job(tmp_path, "fit.py", {"fit.py": FAILING_SCRIPT}, learning_rate=5)
    result = run_train(base_dir)
    assert result.returncode == 1
    lines = failure_text(base_dir).splitlines()
    assert lines[0] == (
        "The training script fit.py failed (exit code 1): ValueError: learning_rate 5 diverges; use at most 1; "
        "fix the script"
    )
    assert not (base_dir / "output" / "success").exists()


def test_the_scripts_own_exit_code_is_trains(tmp_path):
    base_dir = script_job(tmp_path, "exit.py", {"exit.py": "import sys\nsys.exit(3)\n"})
    result = run_train(base_dir)
    assert result.returncode == 3
    assert failure_text(base_dir).startswith("The training script exit.py exited with code 3 and wrote no error")


def test_an_entry_point_outside_the_source_directory_is_refused(tmp_path):
    base_dir = script_job(tmp_path, "../train.py", {"train.py": "print('never')\n"})
    result = run_train(base_dir)
    assert result.returncode == 1
    assert "cannot be used because it contains '.' or '..'" in failure_text(base_dir)


def test_requirements_that_cannot_be_installed_offline_say_so(tmp_path):
    base_dir = script_job(
        tmp_path,
        "train.py",
        {"train.py": "print('never')\n", "requirements.txt": "image-classifier-no-such-package==1.0\n"},
    )
    closed_index = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "1"}
    result = run_train(base_dir, env=closed_index)
    assert result.returncode == 1
    first_line = failure_text(base_dir).splitlines()[0]
    assert first_line.startswith(
        "The source directory's requirements.txt could not be installed: this container cannot reach a package index"
    )
    assert "never" not in result.stdout


SIGTERM_SCRIPT = """
import os, signal, sys, time
def save_and_exit(number, frame):
    open(os.path.join(os.environ["SM_MODEL_DIR"], "saved-on-sigterm"), "w").close()
    sys.exit(0)
signal.signal(signal.SIGTERM, save_and_exit)
open(os.path.join(os.environ["SM_MODEL_DIR"], "started"), "w").close()
time.sleep(120)
"""


def stopped_once_started(base_dir):
    """(process, output) of a script job sent SIGTERM once its script has started."""
    process = start_train(base_dir)
    deadline = time.time() + 60
    while not (base_dir / "model" / "started").exists() and time.time() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return process, output


def test_sigterm_reaches_the_script(tmp_path):
    base_dir = script_job(tmp_path, "wait.py", {"wait.py": SIGTERM_SCRIPT})
    process, output = stopped_once_started(base_dir)
    assert process.returncode == 0, output
    assert (base_dir / "model" / "saved-on-sigterm").exists()


def test_a_script_ended_by_sigterm_exits_143(tmp_path):
    base_dir = script_job(
        tmp_path, "wait.py", {"wait.py": SIGTERM_SCRIPT.replace("signal.signal(signal.SIGTERM, save_and_exit)", "")}
    )
    process, output = stopped_once_started(base_dir)
    assert process.returncode == 143, output
    assert failure_text(base_dir).startswith("Training was stopped (SIGTERM); the training script wait.py ended")


PARAMETER_SERVER_WORKER = """
import json, os, sys
from parameter_server import start_parameter_server
start_parameter_server(int(sys.argv[sys.argv.index("--ps_port") + 1]))
import mxnet as mx
kvstore = mx.kv.create("dist_sync")
kvstore.init(0, mx.nd.zeros(1))
kvstore.push(0, mx.nd.ones(1) * (kvstore.rank + 1))
pulled = mx.nd.zeros(1)
kvstore.pull(0, out=pulled)
report = {"rank": kvstore.rank, "num_workers": kvstore.num_workers, "pulled": float(pulled.asscalar())}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "kvstore.json"), "w") as file:
    json.dump(report, file)
"""


def test_the_docs_parameter_server_on_two_hosts(tmp_path):
    """Two /opt/ml trees on one machine, hosts 127.0.0.1 and 127.0.0.2 (both loopback)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = {"worker.py": PARAMETER_SERVER_WORKER, "parameter_server.py": docs_script("parameter_server.py")}
    hosts = ["127.0.0.1", "127.0.0.2"]
    base_dirs = []
    for host in hosts:
        (tmp_path / host).mkdir()
        base_dir = script_job(tmp_path / host, "worker.py", source, ps_port=port)
        (base_dir / "input" / "config" / "resourceconfig.json").write_text(
            json.dumps({"current_host": host, "hosts": hosts, "network_interface_name": "lo"})
        )
        base_dirs.append(base_dir)
    processes = [start_train(base_dir) for base_dir in base_dirs]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    reports = [json.loads((base_dir / "model" / "kvstore.json").read_text()) for base_dir in base_dirs]
    assert sorted(report["rank"] for report in reports) == [0, 1]
    assert all(report["num_workers"] == 2 and report["pulled"] == 3.0 for report in reports)
