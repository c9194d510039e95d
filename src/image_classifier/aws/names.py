"""Names for the jobs and resources we create: SageMaker's limit is 63 letters, digits and hyphens."""

import time

MAX_LENGTH = 63


def unique(prefix: str) -> str:
    """``prefix`` and the UTC time to the millisecond, as the SageMaker Python SDK names jobs."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    return f"{prefix[: MAX_LENGTH - len(stamp) - 1]}-{stamp}"
