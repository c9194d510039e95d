"""Waiting for an endpoint or a transform job: print each status once, stop at the ones that end the wait."""

import time
from collections.abc import Callable

from ..errors import UserError


def wait(
    describe: Callable[[], dict],
    what: str,
    status_key: str,
    success: str,
    failures: tuple[str, ...],
    poll_seconds: float,
) -> dict:
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
