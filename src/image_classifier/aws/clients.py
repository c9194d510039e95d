"""The boto3 clients a command uses, all from one session, each made on first use."""

from functools import cached_property

import boto3


class Clients:
    def __init__(self, session):
        self.session = session

    @property
    def region(self):
        return self.session.region_name

    @cached_property
    def sagemaker(self):
        return self.session.client("sagemaker")

    @cached_property
    def runtime(self):
        return self.session.client("sagemaker-runtime")

    @cached_property
    def s3(self):
        return self.session.client("s3")

    @cached_property
    def logs(self):
        return self.session.client("logs")

    @cached_property
    def iam(self):
        return self.session.client("iam")


def connect(region=None, profile=None):
    return Clients(boto3.Session(region_name=region, profile_name=profile))
