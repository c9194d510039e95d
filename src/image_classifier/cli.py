"""The commands: ``train`` and ``serve`` (the container's two entrypoints) and ``image-classifier``.

Each command imports what it needs when it runs, so that ``image-classifier aws ...`` (boto3 only) and the
help texts do not load MXNet; a command that loads MXNet first calls libraries.before_mxnet().
"""

import argparse
import importlib
import sys

from . import libraries
from .logs import configure_logging


def train_main() -> int:
    from .training import supervisor

    configure_logging()
    return supervisor.main()


def job_main() -> int:
    """The training job itself, in the child process that ``train`` supervises (supervisor.JOB_CODE)."""
    libraries.before_mxnet()
    from .training import job  # MXNet and GluonCV

    libraries.refuse_truncated_images()
    return job.main()


def serve_main() -> int:
    from .serving.launcher import main as launch

    return launch()


# image-classifier SUBCOMMAND: (module, summary); each module has add_arguments(parser) and run(args) -> exit code.
SUBCOMMANDS = {
    "demo-data": ("image_classifier.demo_data", "write the procedural demo data set as a SageMaker job tree"),
    "convert": (
        "image_classifier.data.convert",
        "turn labelled images (folders, .lst, annotations, manifest) into RecordIO",
    ),
    "export-onnx": ("image_classifier.model.onnx_export", "write model.onnx from a trained model directory"),
    "quantize": (
        "image_classifier.quantize_command",
        "write the int8 model of a trained model directory, calibrated on a folder of images",
    ),
    "aws": ("image_classifier.aws.commands", "upload data, train, follow, deploy, predict and transform on SageMaker"),
}
WITHOUT_MXNET = {"aws"}  # boto3 only


def _chosen(argv: list) -> str | None:
    """The subcommand named on the command line, if any (the first argument that is not an option)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="image-classifier", description="SageMaker image classification, anywhere")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("train", help="train from /opt/ml (or $SAGEMAKER_BASE_DIR)")
    commands.add_parser("serve", help="serve /opt/ml/model over HTTP")
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = _chosen(argv)
    for name, (module_name, summary) in SUBCOMMANDS.items():
        subparser = commands.add_parser(name, help=summary)
        if name == chosen:  # only the command that runs is imported
            if name not in WITHOUT_MXNET:
                libraries.before_mxnet()
            importlib.import_module(module_name).add_arguments(subparser)
    args = parser.parse_args(argv)
    if args.command == "train":
        return train_main()
    if args.command == "serve":
        return serve_main()
    configure_logging()
    return importlib.import_module(SUBCOMMANDS[args.command][0]).run(args)
