"""The CPU image as SageMaker runs it: `docker run IMAGE train` and `docker run IMAGE serve`."""

import io
import json
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from containers import REPO, Container, free_port, make_job, run
from PIL import Image

pytestmark = pytest.mark.docker

TRAIN_TIMEOUT = 900
PING_DEADLINE = 240  # SageMaker's: /ping must pass within 4 minutes of start
STOP_GRACE = 10  # docker stop's default, before SIGKILL (exit code 137)


@pytest.fixture(scope="module")
def trained(cpu_image, tmp_path_factory):
    """A small training run as root, SageMaker's default: (job dir, exit code, log)."""
    job_dir = make_job(cpu_image, tmp_path_factory.mktemp("trained") / "ml")
    code, log = run(cpu_image, job_dir, "train", timeout=TRAIN_TIMEOUT)
    return job_dir, code, log


def assert_trained(job_dir, code, log):
    assert code == 0, log
    model_dir = job_dir / "model"
    assert (model_dir / "image-classification-symbol.json").is_file()
    params = [path.name for path in model_dir.glob("*.params")]
    assert params and all(re.fullmatch(r"image-classification-\d{4}\.params", name) for name in params), params
    assert json.loads((model_dir / "model-shapes.json").read_text()) == [{"name": "data", "shape": [1, 3, 32, 32]}]
    assert sorted(json.loads((model_dir / "classes.json").read_text())) == ["0", "1", "2", "3"]
    assert re.search(r"^Epoch\[0\] Train-accuracy=[0-9.]+$", log, re.MULTILINE), log
    assert re.search(r"^Epoch\[0\] Validation-accuracy=[0-9.]+$", log, re.MULTILINE), log


def test_the_image_leaves_out_what_nothing_imports_and_pip_check_holds(cpu_image, tmp_path):
    """container/left-out.txt's distributions are not installed, and pip finds every requirement met
    (every module of ours importing without them is the in-image suite's test_no_module_needs_cv2)."""
    lines = (REPO / "container" / "left-out.txt").read_text().splitlines()
    left_out = [line for line in lines if line and not line.startswith("#")]
    (tmp_path / "ml").mkdir()
    script = (
        "import importlib.metadata as metadata\n"
        f"for name in {left_out!r}:\n"
        "    try:\n"
        "        print('installed:', name, metadata.version(name))\n"
        "    except metadata.PackageNotFoundError:\n"
        "        pass\n"
    )
    code, log = run(cpu_image, tmp_path / "ml", "sh", "-c", f'pip check && python -c "{script}"', timeout=120)
    assert code == 0 and "installed:" not in log, log


def test_the_image_carries_sagemakers_capability_labels(cpu_image):
    """CreateModel with Mode: MultiModel refuses an image without the multi-models label."""
    inspected = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", cpu_image],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    labels = json.loads(inspected.stdout)
    assert labels["com.amazonaws.sagemaker.capabilities.multi-models"] == "true"
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"


def test_train_writes_the_model_and_metric_lines(trained):
    assert_trained(*trained)


def test_train_as_a_non_root_user(cpu_image, tmp_path):
    job_dir = make_job(cpu_image, tmp_path / "ml")
    for path in [job_dir, *job_dir.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    code, log = run(cpu_image, job_dir, "train", user="1000:1000", timeout=TRAIN_TIMEOUT)
    assert_trained(job_dir, code, log)


def test_train_failure_leaves_its_reason(cpu_image, tmp_path):
    job_dir = make_job(cpu_image, tmp_path / "ml", optimizer="adadelta")
    code, log = run(cpu_image, job_dir, "train", timeout=TRAIN_TIMEOUT)
    assert code != 0, log
    assert "optimizer" in (job_dir / "output" / "failure").read_text().splitlines()[0]


def test_docker_stop_ends_training_within_the_grace_period(cpu_image, tmp_path):
    job_dir = make_job(cpu_image, tmp_path / "ml", num_train=640, epochs="1000")
    with Container(cpu_image, job_dir, "train") as container:
        container.wait_for_log(r"Epoch\[0\] Train-accuracy", timeout=TRAIN_TIMEOUT)
        code, seconds = container.stop(STOP_GRACE)
    assert code != 137 and seconds < STOP_GRACE, f"exit code {code} after {seconds:.1f} s\n{container.log}"


def request(port, path, body=None, headers=None):
    """(status, body) of one HTTP request to the server on this machine's PORT."""
    http_request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(http_request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for_ping(container, port):
    deadline = time.monotonic() + PING_DEADLINE
    while time.monotonic() < deadline and container.process.poll() is None:
        try:
            if request(port, "/ping")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    ended = container.process.poll()
    reason = f"serve exited with code {ended}" if ended is not None else f"no 200 within {PING_DEADLINE} s"
    pytest.fail(f"GET /ping: {reason}; the log:\n{container.log[-4000:]}")


def serving(image, job_dir, user=None):
    port = free_port()
    return Container(image, job_dir, "serve", user=user, env={"SAGEMAKER_BIND_TO_PORT": port}), port


def export_untrained(model_dir, num_layers):
    """An untrained ImageNet ResNet of ``num_layers`` (4 classes, 3x224x224) as `train` saves a model."""
    import mxnet as mx

    from image_classifier.model import artifacts, networks
    from image_classifier.model.preprocessing import Preprocessing

    served = networks.with_probabilities(networks.build(num_layers, 4), multi_label=False)
    served.hybridize()
    served(mx.nd.zeros((1, 3, 224, 224)))
    artifacts.save_epoch(served, model_dir, 1)
    artifacts.write_metadata(model_dir, Preprocessing.for_training((3, 224, 224), resize=None), {})


SERVERLESS_LIMITS = ("--memory", "2g", "--memory-swap", "2g", "--cpus", "1")  # swap off: the limit is the memory


@pytest.mark.parametrize("num_layers", [50, 152])
def test_serve_answers_in_a_serverless_sized_container(cpu_image, tmp_path, num_layers):
    """ResNet-50 and ResNet-152 start and answer within 2 GB and one CPU, as a serverless endpoint has them."""
    export_untrained(tmp_path / "ml" / "model", num_layers)
    port = free_port()
    env = {"SAGEMAKER_BIND_TO_PORT": port}
    with Container(cpu_image, tmp_path / "ml", "serve", env=env, limits=SERVERLESS_LIMITS) as container:
        wait_for_ping(container, port)
        status, body = request(port, "/invocations", png_bytes(224), {"Content-Type": "image/png"})
    assert status == 200, body
    assert len(json.loads(body)) == 4


def test_a_model_the_containers_memory_cannot_hold_is_refused_at_start(cpu_image, tmp_path):
    """One line naming the model and what it needs, exit code 1: not a worker killed by the kernel, again and again."""
    export_untrained(tmp_path / "ml" / "model", 50)
    limits = ("--memory", "512m", "--memory-swap", "512m")
    with Container(cpu_image, tmp_path / "ml", "serve", limits=limits) as container:
        code = container.wait(timeout=PING_DEADLINE)
    assert code == 1, container.log
    assert re.search(
        r"serve cannot start: The model /opt/ml/model/image-classification-0001\.params needs about "
        r"\d+ MB of memory .* this container has 512 MB",
        container.log,
    ), container.log


def png_bytes(side=32):
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("user", [None, "1000:1000"], ids=["root", "non-root"])
def test_serve_answers_ping_and_classifies_a_png(cpu_image, trained, user):
    """nginx and gunicorn start as root (SageMaker) and as any other user (docker run --user)."""
    job_dir = trained[0]
    container, port = serving(cpu_image, job_dir, user)
    with container:
        wait_for_ping(container, port)
        status, body = request(port, "/invocations", png_bytes(), {"Content-Type": "image/png"})
    assert status == 200, body
    probabilities = json.loads(body)
    assert len(probabilities) == 4 and abs(sum(probabilities) - 1) < 1e-3


def test_docker_stop_ends_serve_within_the_grace_period(cpu_image, trained):
    container, port = serving(cpu_image, trained[0])
    with container:
        wait_for_ping(container, port)
        code, seconds = container.stop(STOP_GRACE)
    assert code != 137 and seconds < STOP_GRACE, f"exit code {code} after {seconds:.1f} s\n{container.log}"
