"""The IAM role SageMaker assumes for a job: an ARN, a role name, or $SAGEMAKER_ROLE."""

import os

from botocore.client import BaseClient

from ..errors import UserError

ROLE_ENV = "SAGEMAKER_ROLE"


def role_arn(iam: BaseClient, role: str | None) -> str:
    role = role or os.environ.get(ROLE_ENV)
    if not role:
        raise UserError(
            f"No IAM role for SageMaker to assume: pass --role with the name or ARN of a role that trusts "
            f"sagemaker.amazonaws.com and can read and write your bucket (AmazonSageMakerFullAccess), or set {ROLE_ENV}"
        )
    if role.startswith("arn:"):
        return role
    try:
        return iam.get_role(RoleName=role)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        raise UserError(
            f"The IAM role '{role}' does not exist in this account: create it (trusting sagemaker.amazonaws.com, "
            f"with AmazonSageMakerFullAccess) or pass the ARN of an existing one with --role"
        ) from None
