"""``aws deploy``: a finished training job's model behind a real-time endpoint (model, endpoint config, endpoint)."""

import argparse

from .clients import Clients
from .models import ensure_model
from .polling import wait_for_status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_name", help="a Completed training job")
    parser.add_argument("--endpoint-name", help="default: the job's name (also the endpoint configuration's)")
    parser.add_argument("--instance-type", default="ml.m5.large")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--image-uri", help="the serving image (default: the image that trained)")
    parser.add_argument("--wait", action="store_true", help="wait until the endpoint is InService")


def run(args: argparse.Namespace, clients: Clients) -> int:
    sagemaker = clients.sagemaker
    model_name = ensure_model(sagemaker, args.job_name, args.image_uri)
    endpoint = args.endpoint_name or args.job_name
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
