"""A training job's CloudWatch log lines, printed as they arrive, each once.

boto3 has no log follower: each stream is read forward from where the last read ended (GetLogEvents'
nextForwardToken, until a read brings nothing new), as the SageMaker Python SDK's ``logs_for_job`` does;
the streams, one per host and start, come through boto3's paginator.
"""

from botocore.client import BaseClient

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class LogTail:
    def __init__(self, logs: BaseClient, job_name: str):
        self.logs = logs
        self.job_name = job_name
        self.tokens = {}  # stream name -> where the next read starts

    def _streams(self):
        pages = self.logs.get_paginator("describe_log_streams").paginate(
            logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.job_name}/"
        )
        try:
            return [stream["logStreamName"] for page in pages for stream in page["logStreams"]]
        except self.logs.exceptions.ResourceNotFoundException:  # no job has logged in this region yet
            return []

    def print_new(self) -> None:
        streams = self._streams()
        for stream in streams:
            prefix = f"[{stream.removeprefix(self.job_name + '/')}] " if len(streams) > 1 else ""
            while True:
                start = {"nextToken": self.tokens[stream]} if stream in self.tokens else {}
                response = self.logs.get_log_events(
                    logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True, **start
                )
                for event in response["events"]:
                    print(prefix + event["message"])
                self.tokens[stream] = response["nextForwardToken"]
                if not response["events"]:
                    break
