"""Waiting for a training job, an endpoint or a transform job: boto3's own waiters, which decide when the wait
ends, and ours only to show what each of their describe calls read (status changes, log lines).

A waiter gives up after its own total time (its delay times its attempts: an hour for the endpoint and
transform waiters, six for training) plus any time the caller knows the wait may take (a training job's
own time limit); within it we poll every ``poll_seconds``.
"""

import math
from collections.abc import Callable

from botocore.client import BaseClient
from botocore.exceptions import WaiterError

from ..errors import UserError


def wait(
    client: BaseClient,
    waiter_name: str,
    params: dict,
    what: str,
    poll_seconds: float,
    on_description: Callable[[dict], None],
    extra_seconds: float = 0,
) -> dict:
    """Wait with ``client``'s waiter ``waiter_name`` for ``what`` (``params`` name it); ``on_description``
    gets each description the waiter reads. Returns the last one, whether the waiter ended in a success or a
    failure state; UserError when the waiter's own time, plus ``extra_seconds``, ran out first."""
    waiter = client.get_waiter(waiter_name)
    limit = waiter.config.delay * waiter.config.max_attempts + extra_seconds
    attempts = max(1, math.ceil(limit / max(poll_seconds, 1)))
    last = {}

    def after_describe(parsed, **_):
        if "Error" not in parsed:
            last.update(description=parsed)
            on_description(parsed)

    event = f"after-call.sagemaker.{waiter.config.operation}"
    client.meta.events.register(event, after_describe)
    try:
        waiter.wait(**params, WaiterConfig={"Delay": poll_seconds, "MaxAttempts": attempts})
    except WaiterError as error:
        if "Error" in error.last_response:  # such as a ValidationException: the job or endpoint does not exist
            raise UserError(error.last_response["Error"].get("Message", str(error))) from None
        if "Max attempts exceeded" in str(error):
            raise UserError(
                f"{what} has not finished after {limit / 60:.0f} minutes of waiting; run the command again to wait "
                f"longer, or see it in the SageMaker console"
            ) from None
    finally:
        client.meta.events.unregister(event, after_describe)
    return last["description"]


def print_changes(what: str, status_key: str) -> Callable[[dict], None]:
    """An ``on_description`` that prints ``what: STATUS`` each time the status changes."""
    printed = []

    def on_description(description):
        status = description[status_key]
        if printed[-1:] != [status]:
            print(f"{what}: {status}")
            printed.append(status)

    return on_description


def wait_for_status(
    client: BaseClient,
    waiter_name: str,
    params: dict,
    what: str,
    status_key: str,
    success: str,
    poll_seconds: float,
) -> dict:
    """Wait, printing each status change; the description at ``success``, else UserError with the reason."""
    description = wait(client, waiter_name, params, what, poll_seconds, print_changes(what, status_key))
    status = description[status_key]
    if status != success:
        raise UserError(f"{what} is {status}: {description.get('FailureReason', 'no reason given')}")
    return description
