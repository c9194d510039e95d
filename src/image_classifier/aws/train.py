"""``aws train``: start a training job with this image, the built-in hyperparameters and the data's channels.

The hyperparameters are checked here first, with the same table and messages as the container, so a
typo costs nothing. A local data folder is uploaded under OUTPUT/JOB/data/. With --spot, managed spot
training checkpoints to OUTPUT/JOB/checkpoints/ (or --checkpoint-s3) and resumes from there.
TensorBoard event files go to OUTPUT/JOB/tensorboard/.
"""

import argparse
import json
from pathlib import Path

from .. import hyperparameters
from ..errors import UserError
from . import channels, names, s3
from .clients import Clients
from .roles import role_arn
from .status import follow, outcome

LOCAL_CHECKPOINTS = "/opt/ml/checkpoints"
LOCAL_TENSORBOARD = "/opt/ml/output/tensorboard"


def metric_definitions(top_k: int | None) -> list[dict[str, str]]:
    """What SageMaker reads from the log lines, named as the built-in algorithm names its metrics."""
    metrics = ["accuracy", *([f"top_k_accuracy_{top_k}"] if top_k else [])]
    return [
        {"Name": f"{phase.lower()}:{metric}", "Regex": rf"Epoch\[\d+\] {phase}-{metric}=([0-9.]+)"}
        for metric in metrics
        for phase in ("Train", "Validation")
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--image-uri",
        required=True,
        help="this image in ECR: ACCOUNT.dkr.ecr.REGION.amazonaws.com/image-classifier:TAG",
    )
    parser.add_argument(
        "--data",
        required=True,
        help="a local data folder (uploaded first) or s3://bucket/prefix, one folder per channel",
    )
    parser.add_argument("--output", required=True, help="s3://bucket/prefix for the model, checkpoints and TensorBoard")
    parser.add_argument("--role", help="name or ARN of the IAM role SageMaker assumes (default: $SAGEMAKER_ROLE)")
    parser.add_argument("--hyperparameters", type=Path, help="a JSON file of hyperparameters, as hyperparameters.json")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a hyperparameter (repeatable; wins over the file)",
    )
    parser.add_argument("--job-name", help="default: image-classifier-DATE-TIME")
    parser.add_argument("--instance-type", default="ml.g4dn.xlarge")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--volume-size", type=int, default=30, help="GB of disk for the data (default 30)")
    parser.add_argument("--input-mode", choices=("File", "FastFile", "Pipe"), default="File")
    parser.add_argument("--max-run", type=int, default=86400, help="seconds of training at most (default a day)")
    parser.add_argument("--spot", action="store_true", help="managed spot training, with checkpoints")
    parser.add_argument(
        "--max-wait", type=int, help="with --spot: seconds of waiting and training at most (default twice --max-run)"
    )
    parser.add_argument("--checkpoint-s3", help="where checkpoints go (default with --spot: OUTPUT/JOB/checkpoints)")
    parser.add_argument("--follow", action="store_true", help="then print status and logs until the job ends")


def _hyperparameters_file(path):
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"--hyperparameters {path} cannot be read as JSON ({error})") from None
    if not isinstance(values, dict):
        raise UserError(f"--hyperparameters {path} must hold a JSON object of names to values")
    return values


def _hyperparameters(args):
    values = _hyperparameters_file(args.hyperparameters) if args.hyperparameters else {}
    for item in args.set:
        name, separator, value = item.partition("=")
        if not separator:
            raise UserError(f"--set {item}: write it as NAME=VALUE")
        values[name] = value
    values = {str(name): str(value) for name, value in values.items()}
    return values, hyperparameters.parse(values)


def _channels(clients, args, job_name):
    if args.data.startswith("s3://"):
        data_uri = args.data.rstrip("/")
        return channels.input_data_config(data_uri, channels.by_channel(s3.list_files(clients.s3, data_uri), data_uri))
    files = s3.local_files(args.data)
    grouped = channels.by_channel(files, args.data)
    data_uri = s3.join(args.output, job_name, "data")
    s3.upload_folder(clients.s3, args.data, data_uri, files)
    return channels.input_data_config(data_uri, grouped)


def _request(args, job_name, role, hyperparameter_values, top_k, input_data_config):
    stopping = {"MaxRuntimeInSeconds": args.max_run}
    if args.spot:
        stopping["MaxWaitTimeInSeconds"] = args.max_wait or 2 * args.max_run
    job = {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {
            "TrainingImage": args.image_uri,
            "TrainingInputMode": args.input_mode,
            "MetricDefinitions": metric_definitions(top_k),
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "RoleArn": role,
        "HyperParameters": hyperparameter_values,
        "InputDataConfig": input_data_config,
        "OutputDataConfig": {"S3OutputPath": args.output},
        "ResourceConfig": {
            "InstanceType": args.instance_type,
            "InstanceCount": args.instance_count,
            "VolumeSizeInGB": args.volume_size,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": args.spot,
        "TensorBoardOutputConfig": {
            "LocalPath": LOCAL_TENSORBOARD,
            "S3OutputPath": s3.join(args.output, job_name, "tensorboard"),
        },
    }
    if args.spot or args.checkpoint_s3:
        job["CheckpointConfig"] = {
            "S3Uri": args.checkpoint_s3 or s3.join(args.output, job_name, "checkpoints"),
            "LocalPath": LOCAL_CHECKPOINTS,
        }
    return job


def run(args: argparse.Namespace, clients: Clients) -> int:
    values, parsed = _hyperparameters(args)
    s3.split_uri(args.output)
    role = role_arn(clients.iam, args.role)
    job_name = args.job_name or names.unique("image-classifier")
    input_data_config = _channels(clients, args, job_name)
    clients.sagemaker.create_training_job(**_request(args, job_name, role, values, parsed.top_k, input_data_config))
    print(f"started training job {job_name}")
    print(f"https://{clients.region}.console.aws.amazon.com/sagemaker/home?region={clients.region}#/jobs/{job_name}")
    if args.follow:
        return outcome(follow(clients, job_name, args.poll_seconds))
    return 0
