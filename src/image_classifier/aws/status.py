"""``aws status``: a training job's status, or with --follow its status changes and log lines until it ends.

Exits 0 for a job that completed or is still running (without --follow), 1 for one that failed or
was stopped, with SageMaker's failure reason (the first line of the container's failure file).
"""

import argparse

from ..errors import UserError
from .clients import Clients
from .logs import LogTail
from .polling import wait

ENDED = ("Completed", "Failed", "Stopped")


def _status_line(description):
    secondary = description.get("SecondaryStatus")
    status = description["TrainingJobStatus"]
    detail = f" ({secondary})" if secondary and secondary != status else ""
    return f"{description['TrainingJobName']}: {status}{detail}"


def follow(clients: Clients, job_name: str, poll_seconds: float) -> dict:
    """Print status changes and new log lines until the job ends (boto3's training_job_completed_or_stopped
    waiter, for its own time plus as long as the job may run); returns the final description."""
    tail = LogTail(clients.logs, job_name)
    printed = []

    def on_description(description):
        line = _status_line(description)
        if printed[-1:] != [line]:
            print(line)
            printed.append(line)
        tail.print_new()

    description = clients.sagemaker.describe_training_job(TrainingJobName=job_name)
    on_description(description)
    if description["TrainingJobStatus"] in ENDED:
        return description
    stopping = description.get("StoppingCondition", {})
    runs_for = stopping.get("MaxWaitTimeInSeconds") or stopping.get("MaxRuntimeInSeconds") or 0
    params = {"TrainingJobName": job_name}
    what = f"training job {job_name}"
    return wait(
        clients.sagemaker, "training_job_completed_or_stopped", params, what, poll_seconds, on_description, runs_for
    )


def outcome(description: dict) -> int:
    """Print the job's results; the exit code, or UserError with the reason it failed or stopped."""
    name, status = description["TrainingJobName"], description["TrainingJobStatus"]
    for metric in description.get("FinalMetricDataList", []):
        print(f"  {metric['MetricName']} = {metric['Value']:f}")
    if status == "Failed":
        raise UserError(f"Training job {name} failed: {description.get('FailureReason', 'no reason given')}")
    if status == "Stopped":
        kept = description.get("ModelArtifacts", {}).get("S3ModelArtifacts")
        raise UserError(
            f"Training job {name} was stopped before it completed"
            + (f"; the epochs it kept are in {kept}" if kept else "")
        )
    if status == "Completed":
        print(f"  model: {description['ModelArtifacts']['S3ModelArtifacts']}")
        if description.get("BillableTimeInSeconds"):
            print(f"  billable seconds: {description['BillableTimeInSeconds']}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_name")
    parser.add_argument("--follow", action="store_true", help="print status changes and logs until the job ends")


def run(args: argparse.Namespace, clients: Clients) -> int:
    if args.follow:
        return outcome(follow(clients, args.job_name, args.poll_seconds))
    description = clients.sagemaker.describe_training_job(TrainingJobName=args.job_name)
    print(_status_line(description))
    return outcome(description)
