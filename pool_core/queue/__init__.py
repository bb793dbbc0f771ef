"""The durable job queue (ARCHITECTURE decision 5): enqueue, claim under a lease, run.

    from pool_core import queue
    queue.enqueue(session, kind="transcode", payload={"asset_id": str(asset.id)})

Workers run `queue.JobRunner(db, handlers={...}, ...).run_forever()`.
"""

from pool_core.queue.runner import (
    TRANSIENT_ERRORS,
    Handler,
    JobContext,
    JobRunner,
    Outcome,
    classify,
    default_worker_id,
)
from pool_core.queue.service import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_BACKOFF_SECONDS,
    backoff_delay,
    claim,
    complete,
    count_by_status,
    enqueue,
    fail,
    get,
    list_jobs,
    purge_finished,
    release,
    renew,
    retry_failed,
)

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "MAX_BACKOFF_SECONDS",
    "TRANSIENT_ERRORS",
    "Handler",
    "JobContext",
    "JobRunner",
    "Outcome",
    "backoff_delay",
    "claim",
    "classify",
    "complete",
    "count_by_status",
    "default_worker_id",
    "enqueue",
    "fail",
    "get",
    "list_jobs",
    "purge_finished",
    "release",
    "renew",
    "retry_failed",
]
