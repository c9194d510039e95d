"""The boto3 clients a command uses, all from one session, each made on first use."""

from functools import cached_property

import boto3
from botocore.client import BaseClient


class Clients:
    def __init__(self, session: boto3.Session):
        self.session = session

    @property
    def region(self) -> str | None:
        return self.session.region_name

    @cached_property
    def sagemaker(self) -> BaseClient:
        return self.session.client("sagemaker")

    @cached_property
    def runtime(self) -> BaseClient:
        return self.session.client("sagemaker-runtime")

    @cached_property
    def s3(self) -> BaseClient:
        return self.session.client("s3")

    @cached_property
    def logs(self) -> BaseClient:
        return self.session.client("logs")

    @cached_property
    def iam(self) -> BaseClient:
        return self.session.client("iam")


def connect(region: str | None = None, profile: str | None = None) -> Clients:
    return Clients(boto3.Session(region_name=region, profile_name=profile))
