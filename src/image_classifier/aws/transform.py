"""``aws transform``: a batch transform of every image under an S3 prefix with a finished training job's model.

Each input object becomes OUTPUT/NAME.out holding its answer (application/json: the probabilities).
"""

import argparse

from . import names, s3
from .clients import Clients
from .models import ensure_model
from .polling import wait_for_status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_name", help="a Completed training job")
    parser.add_argument("input", help="s3://bucket/prefix of images, one per object")
    parser.add_argument("output", help="s3://bucket/prefix for the results")
    parser.add_argument("--transform-job-name", help="default: image-classifier-transform-DATE-TIME")
    parser.add_argument("--content-type", default="application/x-image", help="of the input objects")
    parser.add_argument("--instance-type", default="ml.m5.large")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--wait", action="store_true", help="wait until the transform job ends")


def run(args: argparse.Namespace, clients: Clients) -> int:
    s3.split_uri(args.input)
    s3.split_uri(args.output)
    sagemaker = clients.sagemaker
    model_name = ensure_model(sagemaker, args.job_name)
    name = args.transform_job_name or names.unique("image-classifier-transform")
    sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=model_name,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": args.input}},
            "ContentType": args.content_type,
            "SplitType": "None",
        },
        TransformOutput={"S3OutputPath": args.output, "Accept": "application/json"},
        TransformResources={"InstanceType": args.instance_type, "InstanceCount": args.instance_count},
    )
    print(f"started transform job {name}: results will be {s3.join(args.output, 'NAME.out')} per input object")
    if args.wait:
        wait_for_status(
            sagemaker,
            "transform_job_completed_or_stopped",
            {"TransformJobName": name},
            f"transform job {name}",
            "TransformJobStatus",
            "Completed",
            args.poll_seconds,
        )
    return 0
