"""The commands: ``train`` and ``serve`` (the container's two entrypoints) and ``image-classifier``.

``train`` supervises the job in a child process: it forwards SIGTERM and SIGINT (it may be PID 1), and
when the child is killed outright (the kernel's OOM killer sends SIGKILL) it still leaves a failure
reason, which a process cannot do for itself.
"""
import argparse
import importlib
import logging
import signal
import subprocess
import sys

from . import environment, failure
from .logs import configure_logging

log = logging.getLogger(__name__)
KILLED_MESSAGE = ("Training was killed (SIGKILL), most often by the out-of-memory killer: lower "
                  "mini_batch_size or image_shape, or use an instance with more memory")


def train_main():
    configure_logging()
    output_dir = environment.base_dir() / "output"
    failure.reset(output_dir)
    child = subprocess.Popen([sys.executable, "-m", "image_classifier.training.job"])
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda received, _frame: child.send_signal(received))
    code = child.wait()
    if code == -signal.SIGKILL:
        log.error(KILLED_MESSAGE)
        failure.write_failure(output_dir, KILLED_MESSAGE)
        return 128 + signal.SIGKILL
    if code < 0:
        name = signal.Signals(-code).name
        failure.write_failure(output_dir, f"Training ended by {name}")
        return 128 - code
    return code


def serve_main():
    from .serving.launcher import main as launch

    return launch()


# image-classifier SUBCOMMAND: each module has add_arguments(parser) and run(args) -> exit code.
SUBCOMMANDS = {
    "demo-data": ("image_classifier.demo_data", "write the procedural demo data set as a SageMaker job tree"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="image-classifier", description="SageMaker image classification, anywhere")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("train", help="train from /opt/ml (or $SAGEMAKER_BASE_DIR)")
    commands.add_parser("serve", help="serve /opt/ml/model over HTTP")
    for name, (module_name, summary) in SUBCOMMANDS.items():
        importlib.import_module(module_name).add_arguments(commands.add_parser(name, help=summary))
    args = parser.parse_args(argv)
    if args.command == "train":
        return train_main()
    if args.command == "serve":
        return serve_main()
    configure_logging()
    return importlib.import_module(SUBCOMMANDS[args.command][0]).run(args)
