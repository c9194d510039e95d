"""How many worker processes serve, and how many threads each gives the model.

With GPUs: one worker per GPU, each pinned to its own (the worker's slot picks the GPU). On CPU: workers of
up to four model threads each, as many as the cores hold: one worker with every core would answer a lone
request fastest, but one image's forward pass spreads less and less well over more threads, and several
workers also decode in parallel. SAGEMAKER_MODEL_SERVER_WORKERS overrides the count; the cores are then
shared out among the workers. Cores are physical cores (hyperthreads of one core count once: MKL-DNN's
threads gain little from a sibling, and MXNet's own default makes the same assumption), among the CPUs
this process may run on and within a cgroup CPU quota (``docker run --cpus``), not the host's.

Dynamic batching (batching.py) is decided here too, per device: on a GPU a batch costs little more than
one image, so up to GPU_DYNAMIC_BATCH; on CPU, up to CPU_DYNAMIC_BATCH (predictor.py's executors run more
images/s at batch 8 than one image at a time, bench/README.md; and a lone request is never held back).
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path

THREADS_PER_CPU_WORKER = 4
GPU_DYNAMIC_BATCH = 16  # predictor.MAX_BATCH, the most one forward pass takes
CPU_DYNAMIC_BATCH = 8
CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_ROOT = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class WorkerPlan:
    workers: int
    model_threads: int  # OMP_NUM_THREADS of each worker
    dynamic_batch: int  # IMAGE_CLASSIFIER_DYNAMIC_BATCH of each worker


def plan(num_gpus: int, cores: int, requested_workers: int | None = None) -> WorkerPlan:
    if requested_workers:
        workers = requested_workers
    elif num_gpus:
        workers = num_gpus
    else:
        workers = max(1, cores // min(cores, THREADS_PER_CPU_WORKER))
    return WorkerPlan(
        workers=workers,
        model_threads=max(1, cores // workers),
        dynamic_batch=GPU_DYNAMIC_BATCH if num_gpus else CPU_DYNAMIC_BATCH,
    )


def _cgroup_quota(cgroup_root):
    """CPUs allowed by a cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us) quota, or None without one."""
    cpu_max = cgroup_root / "cpu.max"
    if cpu_max.exists():
        quota, period = cpu_max.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    quota_file, period_file = cgroup_root / "cpu" / "cpu.cfs_quota_us", cgroup_root / "cpu" / "cpu.cfs_period_us"
    if quota_file.exists() and period_file.exists():
        quota = int(quota_file.read_text())
        return None if quota <= 0 else quota / int(period_file.read_text())
    return None


def _physical_cores(cpus, cpu_root):
    """Distinct cores among ``cpus``, from sysfs topology; each CPU its own core where that is unreadable."""
    cores = set()
    for cpu in cpus:
        topology = cpu_root / f"cpu{cpu}" / "topology"
        try:
            cores.add(((topology / "physical_package_id").read_text(), (topology / "core_id").read_text()))
        except OSError:
            cores.add(("cpu", cpu))
    return len(cores)


def available_cores(cgroup_root: Path = CGROUP_ROOT, cpu_root: Path = CPU_ROOT) -> int:
    cores = _physical_cores(sorted(os.sched_getaffinity(0)), cpu_root)
    quota = _cgroup_quota(cgroup_root)
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))
