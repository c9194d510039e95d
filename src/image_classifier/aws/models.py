"""The SageMaker model of a finished training job: this image serving the job's model.tar.gz."""

from botocore.client import BaseClient

from ..errors import UserError


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
