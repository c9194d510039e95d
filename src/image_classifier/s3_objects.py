"""Objects fetched from S3 by ``s3://bucket/key``: the images a manifest references (fetched by the packing
threads) and the user's source tarball that ``serve`` downloads.

One client serves every thread (boto3 clients are thread-safe). botocore retries throttling, server errors
and broken connections (standard mode, 5 attempts); a body that breaks off mid-read is fetched again here.
Credentials, region and endpoint come from boto3's usual chain (the training job's role on SageMaker;
``AWS_ENDPOINT_URL`` points it at an S3-compatible store).
"""

import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from .errors import UserError

ATTEMPTS = 3
_client = None
_client_lock = threading.Lock()


def _s3():
    global _client
    with _client_lock:
        if _client is None:
            config = Config(
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=64,
                connect_timeout=10,
                read_timeout=60,
            )
            _client = boto3.session.Session().client("s3", config=config)
        return _client


def split(uri: str, where: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise UserError(f"{where}: '{uri}' is not an S3 object URI; write s3://bucket/key")
    return bucket, key


def fetch(uri: str, where: str) -> bytes:
    """The object's bytes, or a UserError naming ``where`` and the object."""
    bucket, key = split(uri, where)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            details = error.response.get("Error", {})
            raise UserError(
                f"{where}: cannot read {uri} ({details.get('Code', 'error')}: {details.get('Message', error)}); "
                f"check that the object exists and that the job's role may read it (s3:GetObject)"
            ) from None
        except NoCredentialsError:
            raise UserError(
                f"{where}: cannot read {uri}: no AWS credentials; give the job a role that may read it, or set "
                f"AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY when running it yourself"
            ) from None
        except BotoCoreError as error:
            if attempt == ATTEMPTS:
                raise UserError(
                    f"{where}: cannot read {uri} after {ATTEMPTS} attempts ({error}); check the network path to S3 "
                    f"(VPC endpoint or NAT) and the bucket's region"
                ) from None
            time.sleep(attempt)
