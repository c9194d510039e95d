"""Waiting for an endpoint or a transform job: print each status once, stop at the ones that end the wait."""

import time

from ..errors import UserError


def wait(describe, what, status_key, success, failures, poll_seconds):
    """Poll ``describe()`` until its status is ``success`` (returned) or one of ``failures`` (UserError)."""
    shown = None
    while True:
        description = describe()
        status = description[status_key]
        if status != shown:
            print(f"{what}: {status}")
            shown = status
        if status == success:
            return description
        if status in failures:
            raise UserError(f"{what} is {status}: {description.get('FailureReason', 'no reason given')}")
        time.sleep(poll_seconds)
