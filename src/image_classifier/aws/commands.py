"""The ``image-classifier aws`` command: one sub-command per module, and one funnel for their errors.

Every failure prints one line to stderr and exits 1: our own checks (UserError), AWS's answers
(the service's code and message, with a hint for the usual ones), and missing credentials or region.
"""

import argparse
import importlib
import logging
import sys

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from ..errors import UserError
from . import clients

# name: (module with add_arguments(parser) and run(args, clients), summary, waits)
COMMANDS = {
    "upload": ("image_classifier.aws.upload", "upload a local data folder (one folder per channel) to S3", False),
    "train": ("image_classifier.aws.train", "start a training job with this image", True),
    "status": ("image_classifier.aws.status", "a training job's status; --follow for its logs until it ends", True),
    "deploy": ("image_classifier.aws.deploy", "model, endpoint config and endpoint from a finished job", True),
    "predict": ("image_classifier.aws.predict", "classify an image with an endpoint, top classes by name", False),
    "transform": ("image_classifier.aws.transform", "batch transform of an S3 prefix of images", True),
}
HINTS = {
    "ResourceLimitExceeded": "ask for a higher SageMaker quota for this instance type (Service Quotas), "
    "or use another type",
    "AccessDeniedException": "the credentials in use lack this SageMaker permission",
    "ExpiredTokenException": "the credentials have expired: refresh them (aws sso login, or new keys)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--region", help="AWS region (default: the profile's, or $AWS_DEFAULT_REGION)")
    connection.add_argument("--profile", help="a named profile of ~/.aws/config")
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument("--poll-seconds", type=float, default=15, help="between status checks (default 15)")
    commands = parser.add_subparsers(dest="aws_command", required=True)
    for name, (module_name, summary, waits) in COMMANDS.items():
        parents = [connection, waiting] if waits else [connection]
        importlib.import_module(module_name).add_arguments(commands.add_parser(name, help=summary, parents=parents))


def _message(error):
    if isinstance(error, ClientError):
        code = error.response["Error"].get("Code", "")
        hint = HINTS.get(code)
        return f"{error}" + (f" ({hint})" if hint else "")
    if isinstance(error, NoCredentialsError):
        return "No AWS credentials found: run 'aws configure', set AWS_PROFILE, or pass --profile"
    if isinstance(error, NoRegionError):
        return "No AWS region: pass --region or set AWS_DEFAULT_REGION"
    return str(error)


def run(args: argparse.Namespace) -> int:
    logging.getLogger("botocore").setLevel(logging.WARNING)  # its INFO lines ("Found credentials ...") are noise here
    try:
        module = importlib.import_module(COMMANDS[args.aws_command][0])
        return module.run(args, clients.connect(args.region, args.profile))
    except (UserError, ClientError, BotoCoreError) as error:
        print(f"error: {_message(error)}", file=sys.stderr)
        return 1
