"""SageMaker models of this image: serving a finished training job's model.tar.gz, or (a multi-model
endpoint's) every model archive under an S3 prefix."""

from botocore.client import BaseClient

from ..errors import UserError
from .clients import Clients
from .roles import role_arn


def finished_job(sagemaker: BaseClient, job_name: str) -> dict:
    description = sagemaker.describe_training_job(TrainingJobName=job_name)
    status = description["TrainingJobStatus"]
    if status != "Completed":
        reason = f" ({description['FailureReason']})" if description.get("FailureReason") else ""
        raise UserError(f"Training job {job_name} is {status}{reason}, not Completed: there is no model to use yet")
    return description


def ensure_model(sagemaker: BaseClient, job_name: str, image_uri: str | None = None) -> str:
    """The model named after the job, created unless it exists (deploy and transform share it)."""
    description = finished_job(sagemaker, job_name)
    try:
        sagemaker.describe_model(ModelName=job_name)
        print(f"using model {job_name}")
        return job_name
    except sagemaker.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "ValidationException":  # how SageMaker says "no such model"
            raise
    sagemaker.create_model(
        ModelName=job_name,
        PrimaryContainer={
            "Image": image_uri or description["AlgorithmSpecification"]["TrainingImage"],
            "ModelDataUrl": description["ModelArtifacts"]["S3ModelArtifacts"],
        },
        ExecutionRoleArn=description["RoleArn"],
    )
    print(f"created model {job_name}")
    return job_name


def multi_model(clients: Clients, model_name: str, prefix: str, image_uri: str, role: str | None) -> str:
    """A ``Mode: MultiModel`` model of the archives under ``prefix``: SageMaker loads the one an InvokeEndpoint
    names in TargetModel (a key relative to the prefix)."""
    if not prefix.startswith("s3://"):
        raise UserError(f"--multi-model takes an S3 prefix (s3://bucket/models/), not {prefix}")
    if prefix.endswith(".tar.gz"):
        raise UserError(
            f"--multi-model takes the S3 prefix the model archives sit under, not one archive ({prefix}): pass "
            f"{prefix.rsplit('/', 1)[0]}/ to serve every archive there, or deploy one model from its training job"
        )
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    clients.sagemaker.create_model(
        ModelName=model_name,
        PrimaryContainer={"Image": image_uri, "Mode": "MultiModel", "ModelDataUrl": prefix},
        ExecutionRoleArn=role_arn(clients.iam, role),
    )
    print(f"created multi-model model {model_name} of {prefix}")
    return model_name
