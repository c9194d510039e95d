"""``aws deploy``: a model behind a real-time endpoint (model, endpoint config, endpoint): a finished training
job's, or with ``--multi-model s3://PREFIX/`` every model archive under an S3 prefix (a multi-model endpoint:
SageMaker loads each on its first InvokeEndpoint with TargetModel, docs/multi-model.md)."""

import argparse

from ..errors import UserError
from .clients import Clients
from .models import ensure_model, multi_model
from .polling import wait_for_status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_name", nargs="?", help="a Completed training job (not with --multi-model)")
    parser.add_argument(
        "--multi-model",
        metavar="S3_PREFIX",
        help="a multi-model endpoint of the model archives under this S3 prefix (s3://bucket/models/); needs "
        "--endpoint-name (also the model's name) and --image-uri",
    )
    parser.add_argument("--endpoint-name", help="default: the job's name (also the endpoint configuration's)")
    parser.add_argument("--instance-type", default="ml.m5.large")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--image-uri", help="the serving image (default: the image that trained)")
    parser.add_argument(
        "--role", help="with --multi-model: name or ARN of the role SageMaker assumes ($SAGEMAKER_ROLE)"
    )
    parser.add_argument("--wait", action="store_true", help="wait until the endpoint is InService")


def _model(args, clients):
    """The SageMaker model to put behind the endpoint, and the endpoint's name."""
    if args.multi_model is None:
        if args.job_name is None:
            raise UserError("aws deploy needs a Completed training job's name, or --multi-model s3://PREFIX/")
        return ensure_model(clients.sagemaker, args.job_name, args.image_uri), args.endpoint_name or args.job_name
    if args.job_name is not None:
        raise UserError(
            f"--multi-model serves the archives under {args.multi_model}, not training job {args.job_name}'s model: "
            f"drop the job name, or drop --multi-model"
        )
    missing = [
        option
        for option, value in (("--endpoint-name", args.endpoint_name), ("--image-uri", args.image_uri))
        if not value
    ]
    if missing:
        raise UserError(f"--multi-model needs {' and '.join(missing)} (there is no training job to take them from)")
    return multi_model(clients, args.endpoint_name, args.multi_model, args.image_uri, args.role), args.endpoint_name


def run(args: argparse.Namespace, clients: Clients) -> int:
    sagemaker = clients.sagemaker
    model_name, endpoint = _model(args, clients)
    sagemaker.create_endpoint_config(
        EndpointConfigName=endpoint,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InitialInstanceCount": args.instance_count,
                "InstanceType": args.instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    print(f"creating endpoint {endpoint} (about 5 to 10 minutes)")
    if args.wait:
        wait_for_status(
            sagemaker,
            "endpoint_in_service",
            {"EndpointName": endpoint},
            f"endpoint {endpoint}",
            "EndpointStatus",
            "InService",
            args.poll_seconds,
        )
    return 0
