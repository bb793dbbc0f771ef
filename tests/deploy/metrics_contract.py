"""The metric names and labels of issue 18's shared contract, as one constant.

The dashboard and the alert rules in deploy/ may reference only these (tests/deploy checks it),
and the nodes' /metrics output can be checked against the same table once it exists: a name
here that no node exports is a dashboard panel that stays empty.
"""

from __future__ import annotations

import re

from tests.deploy.promql import references

# name -> the labels the contract gives it (besides the target labels job and instance).
CONTRACT_METRICS: dict[str, frozenset[str]] = {
    # FTP node
    "jointpool_ftp_sessions_active": frozenset(),
    "jointpool_ftp_logins_total": frozenset({"result"}),
    "jointpool_ftp_bans_active": frozenset(),
    "jointpool_ftp_uploads_total": frozenset({"result"}),
    "jointpool_ftp_downloads_total": frozenset({"result"}),
    "jointpool_ftp_received_bytes_total": frozenset(),
    "jointpool_ftp_sent_bytes_total": frozenset(),
    "jointpool_ftp_upload_throughput_bytes_per_second": frozenset(),
    "jointpool_ftp_buffer_waits_total": frozenset(),
    "jointpool_ftp_pending_uploads": frozenset({"org"}),
    # API
    "jointpool_http_requests_total": frozenset({"method", "route", "status"}),
    "jointpool_http_request_duration_seconds": frozenset({"method", "route", "status"}),
    "jointpool_search_duration_seconds": frozenset(),
    "jointpool_downloads_total": frozenset({"channel"}),
    # Worker
    "jointpool_queue_jobs": frozenset({"kind", "state"}),
    "jointpool_queue_oldest_waiting_seconds": frozenset(),
    "jointpool_jobs_total": frozenset({"kind", "result"}),
    "jointpool_job_duration_seconds": frozenset({"kind", "result"}),
    "jointpool_job_attempts": frozenset({"kind"}),
    "jointpool_transcode_realtime_factor": frozenset(),
    "jointpool_qc_verdicts_total": frozenset({"verdict"}),
    "jointpool_ffmpeg_failures_total": frozenset({"reason"}),
    # Pool-wide, computed from the database by one node at a time
    "jointpool_storage_bytes": frozenset({"org", "kind"}),
    "jointpool_quota_bytes": frozenset({"org"}),
    "jointpool_licenses": frozenset({"state"}),
    "jointpool_sync_last_success_timestamp_seconds": frozenset({"org"}),
    "jointpool_webhook_deliveries_failed": frozenset(),
    # Every node
    "jointpool_ready": frozenset({"check"}),
    "jointpool_build_info": frozenset({"version"}),
}

HISTOGRAMS = frozenset(
    {
        "jointpool_ftp_upload_throughput_bytes_per_second",
        "jointpool_http_request_duration_seconds",
        "jointpool_search_duration_seconds",
        "jointpool_job_duration_seconds",
        "jointpool_job_attempts",
        "jointpool_transcode_realtime_factor",
    }
)

# The label values the contract fixes; a rule matching another value would never fire.
CONTRACT_LABEL_VALUES: dict[tuple[str, str], frozenset[str]] = {
    ("jointpool_ftp_logins_total", "result"): frozenset(
        {"ok", "bad_password", "banned", "tls_required", "disabled"}
    ),
    ("jointpool_ftp_uploads_total", "result"): frozenset({"complete", "interrupted", "refused"}),
    ("jointpool_ftp_downloads_total", "result"): frozenset({"complete", "interrupted", "refused"}),
    ("jointpool_queue_jobs", "state"): frozenset({"queued", "running", "failed"}),
    ("jointpool_jobs_total", "result"): frozenset({"done", "failed", "retried"}),
    ("jointpool_qc_verdicts_total", "verdict"): frozenset({"pass", "warn", "fail"}),
    ("jointpool_ffmpeg_failures_total", "reason"): frozenset(
        {"undecodable", "limit", "timeout", "storage", "other"}
    ),
    ("jointpool_storage_bytes", "kind"): frozenset({"masters", "renditions", "files", "staging"}),
    ("jointpool_ready", "check"): frozenset({"database", "storage", "migrations"}),
}

# The settings the contract adds (parts 1-2 of issue 18) and docker-compose.yml already sets.
CONTRACT_SETTINGS = frozenset(
    {
        "JOINTPOOL_METRICS_HOST",
        "JOINTPOOL_METRICS_TOKEN",
        "JOINTPOOL_FTP_METRICS_PORT",
        "JOINTPOOL_WORKER_METRICS_PORT",
    }
)

# Not ours: node_exporter's filesystem gauges, for the disk alert.
NODE_EXPORTER_METRICS: dict[str, frozenset[str]] = {
    "node_filesystem_avail_bytes": frozenset({"device", "fstype", "mountpoint"}),
    "node_filesystem_size_bytes": frozenset({"device", "fstype", "mountpoint"}),
}


def allowed_series() -> dict[str, frozenset[str]]:
    """Return every series name a rule or panel may select, histogram series included."""
    allowed = dict(CONTRACT_METRICS) | NODE_EXPORTER_METRICS
    for name in HISTOGRAMS:
        labels = CONTRACT_METRICS[name]
        allowed[f"{name}_bucket"] = labels | {"le"}
        allowed[f"{name}_sum"] = labels
        allowed[f"{name}_count"] = labels
        del allowed[name]  # a histogram has no series of its bare name
    return allowed


# Labels every scraped series carries, whatever the contract says.
TARGET_LABELS = frozenset({"job", "instance"})


def violations(expr: str) -> list[str]:
    """Return what in `expr` the contract does not know: names, labels, label values."""
    found = references(expr)
    allowed = allowed_series()
    problems = [f"unknown series {name}" for name in sorted(found.metrics - set(allowed))]
    for matcher in found.matchers:
        labels = allowed.get(matcher.metric, frozenset()) | TARGET_LABELS
        if matcher.label not in labels:
            problems.append(f"{matcher.metric} has no label {matcher.label}")
            continue
        base = re.sub(r"_(bucket|sum|count)$", "", matcher.metric)
        values = CONTRACT_LABEL_VALUES.get((base, matcher.label))
        if values is not None and matcher.op in ("=", "!=") and matcher.value not in values:
            problems.append(f"{matcher.metric}{{{matcher.label}}} is never {matcher.value!r}")
    known_labels = TARGET_LABELS.union(*(allowed.get(name, frozenset()) for name in found.metrics))
    problems += [
        f"grouping by {label}, which none of {sorted(found.metrics)} has"
        for label in sorted(found.grouping_labels - known_labels)
    ]
    return problems


_EXPOSITION_NAME = re.compile(r"^(?:# (?:TYPE|HELP) )?([a-zA-Z_:][a-zA-Z0-9_:]*)", re.MULTILINE)
# prometheus_client adds a `_created` series beside each counter and histogram.
_EXTRA_SUFFIX = re.compile(r"_created$")


def exposition_gaps(exposition: str) -> tuple[set[str], set[str]]:
    """Return (jointpool_ names not in the contract, contract names absent) of a /metrics text.

    For the metrics engineer's tests: a node's scrape checked against this table. A name
    declared only by its HELP/TYPE lines (a labelled metric nothing has moved yet) counts as
    present; the other nodes' metrics count as absent, so compare each node with its part.
    """
    names = set(_EXPOSITION_NAME.findall(exposition))
    allowed = allowed_series()
    unknown = {
        name
        for name in names
        if name.startswith("jointpool_")
        and name not in allowed
        and name not in CONTRACT_METRICS  # a histogram's TYPE line names its base
        and _EXTRA_SUFFIX.sub("", name) not in CONTRACT_METRICS
        and _EXTRA_SUFFIX.sub("", name) + "_total" not in CONTRACT_METRICS
    }
    # OpenMetrics writes a counter's TYPE line without `_total`.
    missing = {
        name
        for name in CONTRACT_METRICS
        if name not in names and name.removesuffix("_total") not in names
    }
    return unknown, missing
