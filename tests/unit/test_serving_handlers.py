"""Serving through the user's inference code (code/inference.py): theirs where defined, ours for the rest."""

import base64
import io
import json
import logging
import re
import tarfile
import textwrap
import threading
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
import s3_stand_in
from PIL import Image
from serving_models import CLASS_NAMES, export_model

from image_classifier.errors import UserError
from image_classifier.model import artifacts
from image_classifier.serving import handlers
from image_classifier.serving.app import create_app
from image_classifier.serving.settings import Settings

INFERENCE_CODE_PAGE = Path(__file__).resolve().parents[2] / "docs" / "inference-code.md"
IMAGE = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def in_process(model_dir, arrays):
    preprocessing = artifacts.read_preprocessing(model_dir)
    batch = np.stack([preprocessing.apply(array) for array in arrays])
    return artifacts.load(model_dir)(mx.nd.array(batch)).asnumpy()


@pytest.fixture
def serve_code(tmp_path, monkeypatch):
    """A client for a model directory whose code/inference.py is ``source``."""

    def make(source, settings=None):
        model_dir = export_model(tmp_path / "model")
        (model_dir / "code").mkdir()
        (model_dir / "code" / "inference.py").write_text(textwrap.dedent(source))
        monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
        monkeypatch.delenv("SAGEMAKER_PROGRAM", raising=False)
        return create_app(settings or Settings()).test_client(), model_dir

    return make


def invoke(client, body, content_type, **headers):
    return client.post("/invocations", data=body, headers={"Content-Type": content_type, **headers})


INPUT_FN_ONLY = """
    import json
    import numpy as np

    def input_fn(body, content_type):
        if content_type != "application/json":
            raise ValueError(f"send application/json, not {content_type}")
        request = json.loads(body)  # a str: application/json bodies come decoded
        return np.array(request["instances"], np.float32)
"""


def test_input_fn_alone_feeds_our_model_and_answers(serve_code):
    client, model_dir = serve_code(INPUT_FN_ONLY)
    batch = np.random.default_rng(1).normal(size=(2, 3, 16, 16)).astype(np.float32)
    response = invoke(client, json.dumps({"instances": batch.tolist()}), "application/json; charset=utf-8")
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    expected = artifacts.load(model_dir)(mx.nd.array(batch)).asnumpy()
    np.testing.assert_allclose(response.get_json(), expected, rtol=1e-4, atol=1e-6)
    top_k = invoke(
        client,
        json.dumps({"instances": batch[0].tolist()}),
        "application/json",
        **{"X-Amzn-SageMaker-Custom-Attributes": "top_k=1"},
    ).get_json()
    assert top_k["top_k"][0]["label"] == CLASS_NAMES[int(np.argmax(expected[0]))]


def test_a_value_error_in_input_fn_is_a_400_with_its_message(serve_code):
    client, _ = serve_code(INPUT_FN_ONLY)
    response = invoke(client, png(IMAGE), "image/png")
    assert response.status_code == 400
    assert response.get_json() == {"error": "send application/json, not image/png"}


def test_any_other_error_in_user_code_is_a_500_and_the_worker_serves_on(serve_code, caplog):
    client, _ = serve_code(INPUT_FN_ONLY)
    with caplog.at_level(logging.INFO):
        response = invoke(client, json.dumps({"wrong key": 1}), "application/json")
    assert response.status_code == 500
    assert response.get_json() == {
        "error": "input_fn in inference.py raised KeyError; the endpoint's log has the traceback"
    }
    assert "Traceback" in caplog.text and "instances" in caplog.text
    batch = np.zeros((1, 3, 16, 16), np.float32)
    assert invoke(client, json.dumps({"instances": batch.tolist()}), "application/json").status_code == 200


OUTPUT_FN_ONLY = """
    import numpy as np

    def output_fn(prediction, accept):
        if accept != "text/csv":
            raise RuntimeError("only text/csv")
        rows = np.atleast_2d(prediction)
        return "\\n".join(str(int(np.argmax(row))) for row in rows), "text/csv"
"""


def test_output_fn_alone_gets_our_probabilities(serve_code):
    client, model_dir = serve_code(OUTPUT_FN_ONLY)
    response = invoke(client, png(IMAGE), "image/png", Accept="text/csv")
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/csv"
    assert response.data.decode() == str(int(np.argmax(in_process(model_dir, [IMAGE])[0])))
    # our input_fn's errors stay ours: an unsupported type is a 415
    assert invoke(client, b"x", "text/plain", Accept="text/csv").status_code == 415
    failed = invoke(client, png(IMAGE), "image/png", Accept="application/json")
    assert failed.status_code == 500
    assert failed.get_json()["error"].startswith("output_fn in inference.py raised RuntimeError")


def test_the_docs_output_fn(serve_code):
    source = re.search(r"```python\n(# code/inference\.py\n.*?)```", INFERENCE_CODE_PAGE.read_text(), re.S).group(1)
    client, model_dir = serve_code(source)
    best = [int(np.argmax(row)) for row in in_process(model_dir, [IMAGE, IMAGE[::-1]])]
    assert invoke(client, png(IMAGE), "image/png").get_json() == best[:1]
    lines = "\n".join(json.dumps({"b64": base64.b64encode(png(image)).decode()}) for image in (IMAGE, IMAGE[::-1]))
    assert invoke(client, lines, "application/jsonlines").get_json() == best


def test_model_fn_and_predict_fn_with_our_input_and_output(serve_code):
    client, model_dir = serve_code(
        """
        from image_classifier.model import artifacts

        def model_fn(model_dir):
            return {"net": artifacts.load(model_dir), "scale": 1.0}

        def predict_fn(data, model):
            import mxnet as mx
            return model["net"](mx.nd.array(data[None] if data.ndim == 3 else data)).asnumpy()[0] * model["scale"]
        """
    )
    response = invoke(client, png(IMAGE), "image/png")
    assert response.status_code == 200, response.data
    np.testing.assert_allclose(response.get_json(), in_process(model_dir, [IMAGE])[0], rtol=1e-4, atol=1e-6)


def test_model_fn_alone_a_gluon_block_through_our_predict_fn(serve_code):
    client, model_dir = serve_code(
        """
        from image_classifier.model import artifacts

        def model_fn(model_dir):
            return artifacts.load(model_dir)
        """
    )
    response = invoke(client, png(IMAGE), "image/png")
    np.testing.assert_allclose(response.get_json(), in_process(model_dir, [IMAGE])[0], rtol=1e-4, atol=1e-6)


def test_transform_fn_does_it_all(serve_code):
    client, _ = serve_code(
        """
        def transform_fn(model, body, content_type, accept):
            if not body:
                raise ValueError("empty body")
            return f"{type(model).__name__} {len(body)} {content_type} {accept}", "text/plain"
        """
    )
    response = invoke(client, b"abc", "application/octet-stream")
    assert (response.status_code, response.data) == (200, b"Predictor 3 application/octet-stream application/json")
    assert invoke(client, b"", "application/octet-stream").get_json() == {"error": "empty body"}


def test_transform_fn_with_the_other_functions_is_refused(serve_code):
    with pytest.raises(UserError, match="defines transform_fn and also"):
        serve_code("def transform_fn(m, b, c, a): pass\ndef input_fn(b, c): pass\n")


def test_sagemaker_program_names_the_script_and_a_missing_one_is_named(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "serve_me.py").write_text("")
    environ = {"SAGEMAKER_PROGRAM": "serve_me.py", "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/sourcedir.tar.gz"}
    assert handlers.program_path(tmp_path, environ) == tmp_path / "code" / "serve_me.py"
    local = tmp_path / "src"
    local.mkdir()
    (local / "serve_me.py").write_text("")
    environ["SAGEMAKER_SUBMIT_DIRECTORY"] = f"file://{local}"
    assert handlers.program_path(tmp_path, environ) == local / "serve_me.py"
    with pytest.raises(UserError, match="SAGEMAKER_PROGRAM is other.py, but .* does not exist"):
        handlers.program_path(tmp_path, {"SAGEMAKER_PROGRAM": "other.py"})
    assert handlers.program_path(tmp_path / "elsewhere", {}) is None


@pytest.fixture
def bucket(monkeypatch):
    """A bucket on moto's S3 stand-in (127.0.0.1), and boto3 pointed at it."""
    with s3_stand_in.server() as environ, s3_stand_in.bucket(environ, "inference-code", monkeypatch) as client:
        yield client


def test_an_s3_sourcedir_is_downloaded_once_for_the_workers(tmp_path, bucket):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        script = b"def output_fn(prediction, accept):\n    return 'ok', 'text/plain'\n"
        member = tarfile.TarInfo("serve_me.py")
        member.size = len(script)
        tar.addfile(member, io.BytesIO(script))
    bucket.put_object(Bucket="inference-code", Key="job/sourcedir.tar.gz", Body=archive.getvalue())
    environ = {
        "SAGEMAKER_PROGRAM": "serve_me.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "s3://inference-code/job/sourcedir.tar.gz",
    }
    workers_environ = handlers.with_local_source(tmp_path, environ)
    path = handlers.program_path(tmp_path, workers_environ)
    assert path.name == "serve_me.py" and b"output_fn" in path.read_bytes()
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "serve_me.py").write_text("")  # repacked into the model archive: nothing to download
    assert handlers.with_local_source(tmp_path, environ) is environ


def test_predict_fn_runs_one_request_at_a_time(serve_code):
    client, _ = serve_code(
        """
        import threading
        import time

        inside, most, counting = 0, 0, threading.Lock()

        def predict_fn(data, model):
            global inside, most
            with counting:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with counting:
                inside -= 1
            return [float(most)]
        """
    )
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(invoke(client, png(IMAGE), "image/png").get_json()))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [[1.0]] * 4
