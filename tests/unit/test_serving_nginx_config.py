"""nginx's configuration: nginx itself accepts it, every answer it writes is the app's one-line JSON, and the
limits follow the settings."""

import json
import re
import shutil
import subprocess

import pytest

from image_classifier.serving import nginx_config
from image_classifier.serving.runtime import RuntimeDir
from image_classifier.serving.settings import Settings

NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin")


@pytest.fixture
def runtime():
    runtime = RuntimeDir.create()
    yield runtime
    runtime.remove()


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
@pytest.mark.parametrize("as_root", [True, False])
def test_nginx_accepts_the_configuration(runtime, as_root):
    runtime.nginx_conf.write_text(nginx_config.render(Settings(port=18080), runtime, as_root, 4096))
    result = subprocess.run(
        [NGINX, "-t", "-p", str(runtime.root), "-c", str(runtime.nginx_conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_every_answer_nginx_writes_is_one_line_of_json(runtime):
    text = nginx_config.render(Settings(), runtime, False, 4096)
    answers = re.findall(r"return (\d+) '(.*?)';", text, re.DOTALL)
    assert {int(status) for status, _ in answers} == set(nginx_config.error_messages(Settings()))
    for _status, body in answers:
        (message,) = json.loads(body).values()
        assert body.endswith("\n") and body.count("\n") == 1 and "\n" not in message and "<" not in message


def test_a_multi_model_endpoints_503_speaks_of_no_model(runtime):
    assert nginx_config.error_messages(Settings())[503][1] == "no worker holds its model yet; retry"
    assert nginx_config.error_messages(Settings(multi_model=True))[503][1] == "no worker is up yet; retry"


def test_limits_follow_the_settings(runtime):
    settings = Settings(max_payload_mb=4, header_timeout=7, body_timeout=9, keepalive_timeout=11, timeout=3600)
    text = nginx_config.render(settings, runtime, False, 4096)
    assert "client_max_body_size 4m;" in text
    assert "client_header_timeout 7s;" in text and "client_body_timeout 9s;" in text
    assert "keepalive_timeout 11s;" in text and "proxy_read_timeout 3605s;" in text
    assert "larger than SAGEMAKER_MAX_PAYLOAD_IN_MB (4 MB)" in text
    unlimited = nginx_config.render(Settings(max_payload_mb=0, max_body_mb=1024), runtime, False, 4096)
    assert "client_max_body_size 0;" in unlimited  # the app bounds what it holds


def test_user_only_as_root_and_every_path_in_the_runtime_directory(runtime):
    assert "user nobody" in nginx_config.render(Settings(), runtime, True, 4096)
    text = nginx_config.render(Settings(), runtime, False, 4096)
    assert "user " not in text
    paths = re.findall(r"(?:_path|pid|unix:|-f) (/\S+?)[;)]", text)
    assert len(paths) >= 7 and all(path.startswith(str(runtime.root)) for path in paths)


def test_connections_fit_the_file_limit():
    assert nginx_config.file_limit(1_048_576) == 2 * nginx_config.MAX_CONNECTIONS + nginx_config.RESERVED_FILES
    assert nginx_config.file_limit(20_000) == 20_000
