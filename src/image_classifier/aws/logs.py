"""A training job's CloudWatch log lines, printed as they arrive, each once."""

from botocore.client import BaseClient

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class LogTail:
    def __init__(self, logs: BaseClient, job_name: str):
        self.logs = logs
        self.job_name = job_name
        self.tokens = {}  # stream name -> where the next read starts

    def _streams(self):
        try:
            response = self.logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.job_name}/")
        except self.logs.exceptions.ResourceNotFoundException:  # no job has logged in this region yet
            return []
        return [stream["logStreamName"] for stream in response["logStreams"]]

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
