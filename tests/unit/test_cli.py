"""The image-classifier command imports only the subcommand that runs: the aws commands never load MXNet."""

import os
import subprocess
import sys

import pytest

PROBE = """
import sys
from image_classifier import cli
try:
    cli.main({argv!r})
except SystemExit as stop:
    print("exit", stop.code)
print("mxnet loaded:", "mxnet" in sys.modules)
print("cv2 loaded:", "cv2" in sys.modules)
"""


def run_cli(*argv):
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=list(argv))], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("argv", [("aws", "--help"), ("aws", "train", "--help"), ("--help",)])
def test_help_and_aws_commands_do_not_load_mxnet(argv):
    output = run_cli(*argv)
    assert "exit 0" in output and "mxnet loaded: False" in output and "cv2 loaded: False" in output, output


def test_importing_the_package_or_the_gunicorn_config_loads_nothing_else(tmp_path):
    """The gunicorn arbiter imports the config (in the runtime directory the launcher names); cv2 is imported
    (or marked absent) only where MXNet will load (libraries.py)."""
    code = (
        "import sys; import image_classifier.serving.gunicorn_config\n"
        "print(sorted(name for name in ('cv2', 'mxnet', 'gluoncv', 'PIL') if name in sys.modules))\n"
    )
    environ = dict(os.environ, IMAGE_CLASSIFIER_RUNTIME_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environ)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_chosen_subcommand_still_gets_its_arguments():
    output = run_cli("demo-data", "--help")
    assert "--num-train" in output and "exit 0" in output


def test_mxnet_logs_its_subgraph_backend_once_at_most():
    """Every bind of a fused graph would log "Subgraph backend MKLDNN is activated" (five at each start of
    serve); the entry points' libraries.before_mxnet() turns it off unless the user set it."""
    code = (
        "from image_classifier import libraries; libraries.before_mxnet()\n"
        "import mxnet as mx\n"
        "conv = mx.sym.Convolution(mx.sym.var('data'), num_filter=4, kernel=(3, 3))\n"
        "net = mx.sym.Activation(conv, act_type='relu')\n"
        "for batch in (1, 2):\n"
        "    net.simple_bind(mx.cpu(), data=(batch, 3, 8, 8)).forward()\n"
    )
    environ = {key: value for key, value in os.environ.items() if key != "MXNET_SUBGRAPH_VERBOSE"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environ)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Subgraph backend") <= 1, result.stderr
