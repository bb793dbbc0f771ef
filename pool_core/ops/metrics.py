"""Every metric the pool exports, as module-level prometheus_client objects.

One process is one node (FTP, API worker, job worker); each moves only its own metrics, and
all of them live in the default registry. Gauges name their multiprocess mode: under several
uvicorn workers (multiprocess mode, see `pool_core.ops.exposition`) the API's files are
aggregated instead of reported per worker at random.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from pool_core.ops.version import pool_version

# Bytes per second, from a slow contribution link to a fast LAN.
THROUGHPUT_BUCKETS = tuple(float(2**n) for n in range(16, 34, 2))  # 64 KiB/s .. 4 GiB/s
# Job durations: a webhook in milliseconds, a feature film's transcode in hours.
JOB_BUCKETS = (0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600)
ATTEMPT_BUCKETS = (1, 2, 3, 4, 5, 10)
REALTIME_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 16, 32)

# --- FTP node
ftp_sessions_active = Gauge(
    "jointpool_ftp_sessions_active",
    "FTP control connections open now.",
    multiprocess_mode="livesum",
)
ftp_logins = Counter(
    "jointpool_ftp_logins_total",
    "FTP login attempts by result (ok, bad_password, banned, tls_required, disabled).",
    ["result"],
)
ftp_bans_active = Gauge(
    "jointpool_ftp_bans_active",
    "Addresses and (address, account) pairs banned now for failed logins.",
    multiprocess_mode="livesum",
)
ftp_uploads = Counter(
    "jointpool_ftp_uploads_total",
    "FTP uploads by result (complete, interrupted, refused).",
    ["result"],
)
ftp_downloads = Counter(
    "jointpool_ftp_downloads_total",
    "FTP downloads by result (complete, interrupted, refused).",
    ["result"],
)
ftp_received_bytes = Counter(
    "jointpool_ftp_received_bytes", "Bytes received on FTP data connections."
)
ftp_sent_bytes = Counter("jointpool_ftp_sent_bytes", "Bytes sent on FTP data connections.")
ftp_upload_throughput = Histogram(
    "jointpool_ftp_upload_throughput_bytes_per_second",
    "Throughput of each finished upload (bytes of this transfer / its duration).",
    buckets=THROUGHPUT_BUCKETS,
)
ftp_buffer_waits = Counter(
    "jointpool_ftp_buffer_waits",
    "Times an upload had to wait for room in the process's upload memory budget.",
)
ftp_pending_uploads = Gauge(
    "jointpool_ftp_pending_uploads",
    "Uploads this node is receiving now (open data connections writing a file), by "
    "organization code.",
    ["org"],
    multiprocess_mode="livesum",
)

# --- API
http_requests = Counter(
    "jointpool_http_requests",
    "HTTP requests by method, route template (never the raw path) and status.",
    ["method", "route", "status"],
)
http_request_duration = Histogram(
    "jointpool_http_request_duration_seconds",
    "HTTP request duration by method, route template and status.",
    ["method", "route", "status"],
)
search_duration = Histogram("jointpool_search_duration_seconds", "Catalog search latency.")
downloads = Counter(
    "jointpool_downloads",
    "Download grants handed out, by channel (ftp, api, api:proxy, api:poster, ...).",
    ["channel"],
)

# --- worker
# Queue depth and age are pool-wide: `pool_core.ops.pool.PoolCollector` computes them.
jobs = Counter(
    "jointpool_jobs",
    "Finished job attempts by kind and result (done, failed, retried).",
    ["kind", "result"],
)
job_duration = Histogram(
    "jointpool_job_duration_seconds",
    "Duration of a job attempt by kind and result.",
    ["kind", "result"],
    buckets=JOB_BUCKETS,
)
job_attempts = Histogram(
    "jointpool_job_attempts",
    "Attempts a job took, observed when it is done or finally failed.",
    ["kind"],
    buckets=ATTEMPT_BUCKETS,
)
transcode_realtime_factor = Histogram(
    "jointpool_transcode_realtime_factor",
    "Media seconds transcoded per wall-clock second, per master.",
    buckets=REALTIME_BUCKETS,
)
qc_verdicts = Counter(
    "jointpool_qc_verdicts", "QC verdicts of transcoded masters (pass, warn, fail).", ["verdict"]
)
ffmpeg_failures = Counter(
    "jointpool_ffmpeg_failures",
    "ffmpeg failures by reason class (undecodable, limit, timeout, storage, other).",
    ["reason"],
)

# --- every node
ready = Gauge(
    "jointpool_ready",
    "1 when the readiness check passed at its last run (database, storage, migrations).",
    ["check"],
    multiprocess_mode="livemin",
)
build_info = Gauge(
    "jointpool_build_info", "The running version (always 1).", ["version"], multiprocess_mode="max"
)
build_info.labels(version=pool_version()).set(1)
