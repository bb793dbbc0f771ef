"""The one settings class: every knob of the pool, read from `JOINTPOOL_*` variables.

Built once in the entry point (`jointpool.cli`) and passed down; nothing else reads the
environment.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from pool_core.errors import ConfigurationError
from pool_core.private_files import private_dir, write_private

# Values that people copy from examples and forget to change.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "changethis",
        "secret",
        "password",
        "admin",
        "minioadmin",
        "example",
        "test",
        "xxx",
    }
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Name of the file under DATA_DIR that keeps the generated embedded-mode secrets.
EMBEDDED_SECRETS_FILE = "embedded-secrets.json"


class Settings(BaseSettings):
    """Configuration of every pool component."""

    model_config = SettingsConfigDict(env_prefix="JOINTPOOL_", extra="ignore")

    data_dir: Path = Field(
        Path("./var"),
        description="Where embedded data, keys and logs live; a relative path is taken from "
        "the directory the command starts in (as are the other paths).",
    )
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty = SQLite file `<DATA_DIR>/pool.db`."
    )
    db_pool_size: int = Field(10, description="Connections per process (PostgreSQL).")

    s3_endpoint: str = Field("", description="S3 endpoint URL; empty = start embedded SeaweedFS.")
    s3_access_key: SecretStr = Field(SecretStr(""), description="S3 access key id.")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret access key.")
    s3_bucket: str = Field("jointpool", description="Bucket holding masters and renditions.")
    s3_region: str = Field("us-east-1", description="S3 region name used for signing.")
    s3_embedded_port: int = Field(8333, description="S3 port of the embedded SeaweedFS.")
    s3_embedded_base_port: int = Field(
        18300,
        description="First internal port of embedded SeaweedFS (uses base..base+9, base+10008).",
    )

    # --- FTP ingress ---
    ftp_host: str = Field("127.0.0.1", description="Address the FTP server binds to.")
    ftp_port: int = Field(2121, description="FTP control port.")
    ftp_passive_ports: str = Field("30000-30099", description="Passive data port range `lo-hi`.")
    ftp_masquerade_address: str = Field(
        "", description="Address announced in PASV replies (behind NAT / load balancer)."
    )
    ftp_tls_cert: Path | None = Field(
        None, description="PEM certificate for FTPS; empty = self-signed under DATA_DIR."
    )
    ftp_tls_key: Path | None = Field(None, description="PEM private key for FTPS.")
    ftp_require_tls: bool | None = Field(
        None,
        description="Refuse logins before AUTH TLS and clear data connections (PROT C). "
        "Empty = true, except in the embedded demo (no JOINTPOOL_S3_ENDPOINT), where "
        "plain FTP stays allowed.",
    )
    ftp_require_tls_reuse: bool | None = Field(
        None,
        description="Refuse a TLS data connection that does not resume the TLS session of "
        "its own control connection (as vsftpd's require_ssl_reuse), so nobody else can take "
        "a session's passive port. Empty = on whenever TLS is required.",
    )
    ftp_passive_connect_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a passive port (PASV/EPSV) waits for its data connection before "
        "it is released.",
    )
    ftp_data_idle_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds a data connection may carry no byte before it is closed (421).",
    )
    ftp_passive_ports_per_org: int = Field(
        0,
        ge=0,
        description="Passive ports one organization may hold waiting for a data connection at "
        "once (0 = a quarter of the passive range, at least 1). A PASV over it answers 425.",
    )
    ftp_strict_tls_eof: bool = Field(
        False,
        description="When true, a TLS upload whose data connection ends without close_notify "
        "(a bare FIN) is not complete: it stays pending (426) and resumable. Off by default, "
        "as in vsftpd (strict_ssl_read_eof): many clients (curl, FileZilla) never send it.",
    )
    ftp_max_connections: int = Field(512, description="Concurrent FTP sessions per node.")
    ftp_max_connections_per_ip: int = Field(64, description="Concurrent sessions per client IP.")
    ftp_idle_timeout: int = Field(300, description="Seconds a control connection may idle.")
    ftp_login_cache_seconds: float = Field(
        10.0, description="How long a verified login is remembered (0 = verify every time)."
    )
    ftp_auth_failed_delay: float = Field(
        1.0, description="Seconds before answering a failed login (slows guessing)."
    )
    ftp_ban_threshold: int = Field(
        5,
        description="Failed logins within the window that ban the client IP and the (IP, "
        "account) pair, and slow down every login to that account; the account itself is "
        "never locked, so its owner still logs in from another address.",
    )
    ftp_ban_window_seconds: float = Field(600.0, description="Window for counting failures.")
    ftp_ban_seconds: float = Field(60.0, description="First ban length; doubles per repeat.")
    ftp_ban_max_seconds: float = Field(3600.0, description="Longest ban.")
    ftp_account_slowdown_seconds: float = Field(
        2.0,
        ge=0,
        description="Wait before checking a password for an account with ftp_ban_threshold "
        "recent failures (from any addresses), so guessing it from many IPs stays slow.",
    )
    ftp_session_recheck_seconds: float = Field(
        4.0,
        gt=0,
        # Offboarding promises "within 10 s": this interval plus the session's 1 s poll.
        le=9,
        description="How often live FTP sessions are checked against their account: a "
        "disabled user, organization or FTP account, or a changed password, ends the session "
        "(421) within this time plus a second (at most 9, so always within 10 s).",
    )
    upload_part_size: int = Field(
        8 << 20,
        ge=6 << 20,
        le=64 << 20,
        description="First S3 part size of a streamed upload (bytes); it doubles every 1000 "
        "parts so one stream reaches 5 TiB. Memory per upload is at most "
        "upload_parts_in_flight + 1 parts.",
    )
    upload_memory_budget: int = Field(
        112 << 20,
        ge=0,
        description="Bytes all uploads of one process may buffer at once (0 = unlimited); "
        "a writer over budget waits, which slows its client through TCP. One organization "
        "holds at most an equal share among the organizations uploading, and at most "
        "upload_memory_org_share of it.",
    )
    upload_memory_org_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Largest fraction of upload_memory_budget one organization may hold, so "
        "another organization's upload always finds room.",
    )
    upload_memory_wait_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait of an upload for room in upload_memory_budget; after it the "
        "transfer is answered 451 and stays resumable.",
    )
    upload_parts_in_flight: int = Field(
        3,
        ge=1,
        le=8,
        description="Parts of one upload sent to S3 at once (each holds a part-sized buffer "
        "from upload_memory_budget), so a single stream keeps S3 busy.",
    )
    upload_lease_seconds: int = Field(
        60,
        ge=5,
        description="How long an upload stays held by a silent writer before "
        "another session or node may take it over.",
    )
    upload_settle_seconds: float = Field(
        30.0,
        ge=0,
        description="How long a completed master waits, for a continuation (REST/APPE at its "
        "size), before the catalog and other members see it; its transcode starts at once "
        "(0 = announce at once).",
    )
    upload_stale_after_hours: float = Field(
        72.0, description="Pending uploads idle longer than this are aborted by maintenance."
    )

    # --- catalog API ---
    api_host: str = Field("127.0.0.1", description="Address the catalog API binds to.")
    api_port: int = Field(8000, description="Catalog API port.")
    api_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Catalog API processes (uvicorn workers); about one per core. Each worker "
        "reads these settings from the environment.",
    )
    api_trust_proxy_headers: bool = Field(
        False, description="Take the client address from X-Forwarded-For (behind a proxy)."
    )
    api_forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Proxies whose X-Forwarded-* headers are trusted."
    )
    api_token_max_days: int = Field(
        90,
        ge=1,
        description="Longest lifetime of an API token, in days: new tokens get it by default "
        "and asking for longer is refused (422 over the API, an error from the CLI).",
    )
    api_screening_ttl_seconds: int = Field(
        900, description="Default lifetime of screening (presigned preview) URLs."
    )

    # --- web UI (served by the API process under /) ---
    web_enabled: bool = Field(True, description="Serve the editors' web UI under / .")
    web_session_hours: float = Field(
        12.0,
        gt=0,
        le=24 * 30,
        description="How long a web sign-in lasts (a working day by default); signing out, "
        "disabling the user or changing the password ends it earlier.",
    )
    web_default_language: str = Field(
        "en",
        description="UI language when neither the switcher nor Accept-Language chooses one.",
    )

    # --- job queue and workers ---
    worker_concurrency: int = Field(2, description="Jobs one worker process runs at once.")
    job_lease_seconds: int = Field(60, description="Lease a worker holds on a claimed job.")
    job_max_attempts: int = Field(5, description="Attempts before a job is marked failed.")
    job_backoff_seconds: float = Field(5.0, description="First retry delay; doubles per attempt.")
    job_poll_seconds: float = Field(1.0, description="How often an idle worker looks for jobs.")

    # --- transcoding ---
    ffmpeg: str = Field("", description="ffmpeg binary; empty = imageio-ffmpeg's, else PATH.")
    transcode_font: str = Field(
        "", description="TrueType font for burnt-in text; empty = find DejaVu Sans or similar."
    )
    transcode_tmp_dir: Path | None = Field(
        None, description="Scratch space for renditions being made; empty = system temp."
    )
    transcode_ladder: list[int] = Field(
        [540], description="Proxy heights in lines, e.g. [540] or [720, 360] (JSON list)."
    )
    transcode_video_preset: str = Field("veryfast", description="x264 preset of the proxies.")
    transcode_video_crf: int = Field(26, description="x264 CRF of the proxies (lower = better).")
    transcode_x264_params: str = Field(
        "me=dia:subme=1:weightp=0:rc-lookahead=5:b-adapt=0:partitions=i8x8,i4x4",
        description="x264 options on top of the preset (-x264-params); the default cuts the "
        "proxy encode's CPU by about a third for ~1.0-1.1x the size. Empty = preset only.",
    )
    transcode_audio_bitrate: str = Field("128k", description="AAC bitrate of the proxy stereo.")
    transcode_stereo_tracks: list[int] = Field(
        [1, 2], description="Mono tracks (1-based) that form the programme stereo pair."
    )
    transcode_deinterlace: str = Field(
        "auto",
        description="auto (one field when the proxy is at most field height, else bwdif), "
        "field, bwdif or yadif.",
    )
    transcode_watermark: str = Field(
        "PREVIEW · {org} · not for broadcast",
        description="Watermark burnt into proxies; {org} = the owner organization's name.",
    )
    transcode_thumbnail_interval: float = Field(10.0, description="Seconds between thumbnails.")
    transcode_thumbnail_width: int = Field(320, description="Thumbnail and poster width.")
    transcode_storyboard_interval: float = Field(
        2.0, description="Seconds between storyboard frames (grows for long masters)."
    )
    transcode_storyboard_max_frames: int = Field(
        400, description="Most storyboard frames per master."
    )
    transcode_storyboard_width: int = Field(160, description="Width of one storyboard tile.")
    transcode_storyboard_columns: int = Field(10, description="Tiles per sprite-sheet row.")
    transcode_storyboard_rows: int = Field(10, description="Tile rows per sprite sheet.")
    transcode_timeout_base_seconds: float = Field(
        120.0, description="ffmpeg wall-clock limit: this plus factor x the master's duration."
    )
    transcode_timeout_factor: float = Field(
        2.0, description="Seconds of ffmpeg time allowed per second of master."
    )
    transcode_max_width: int = Field(8192, description="Wider masters are refused.")
    transcode_max_height: int = Field(4320, description="Taller masters are refused.")
    transcode_max_duration_hours: float = Field(12.0, description="Longer masters are refused.")
    transcode_ffmpeg_cpu_seconds: int | None = Field(
        None,
        ge=1,
        description="CPU-time limit of one ffmpeg run (RLIMIT_CPU); unset = the wall-clock "
        "limit x the number of cores.",
    )
    transcode_ffmpeg_memory_mb: int | None = Field(
        8192,
        ge=64,
        description="Address-space limit of one ffmpeg run in MiB (RLIMIT_AS); unset = none.",
    )
    qc_loudness_target: float = Field(-23.0, description="Integrated loudness target (LUFS).")
    qc_loudness_tolerance: float = Field(1.0, description="Allowed deviation from target (LU).")
    qc_true_peak_max: float = Field(-1.0, description="Highest allowed true peak (dBTP).")
    qc_max_black_seconds: float = Field(
        2.0, description="Longest black allowed at the head or tail of a master."
    )
    qc_max_silence_seconds: float = Field(
        2.0, description="Longest silence allowed at the head or tail of a master."
    )
    qc_head_tail_severity: str = Field(
        "warn", description="Verdict for black or silence at head or tail: warn or fail."
    )

    # --- licensing, change feed and webhooks ---
    download_url_seconds: int = Field(
        300,
        ge=1,
        description="Lifetime of a presigned download URL for a licensed master; short so a "
        "revoked license stops downloads soon (clients ask for a new URL to resume).",
    )
    webhook_timeout_seconds: float = Field(10.0, description="Timeout of one webhook POST.")
    webhook_max_attempts: int = Field(
        8, description="Attempts (with the queue's backoff) before a webhook delivery fails."
    )
    webhook_allow_private_targets: bool = Field(
        False,
        description="Let webhooks go to loopback, private, link-local and other non-public "
        "addresses (for on-premises receivers and tests); off, such URLs are refused when "
        "registered and deliveries to names resolving to them fail without retry.",
    )
    webhook_secret_grace_seconds: int = Field(
        86_400,
        ge=0,
        le=30 * 86_400,
        description="After a webhook secret is rotated, how long deliveries are still signed "
        "with the old secret too (receivers accept either while they switch over).",
    )
    webhook_poll_seconds: float = Field(
        5.0, description="How often the worker turns new change events into webhook deliveries."
    )
    license_sweep_seconds: float = Field(
        300.0, description="How often the worker marks licenses past their end as expired."
    )

    # --- maintenance ---
    maintenance_hour_utc: int = Field(
        2, ge=0, le=23, description="Hour (UTC) at which workers run the nightly maintenance."
    )
    maintenance_orphan_grace_hours: float = Field(
        6.0, description="Unreferenced objects younger than this are never deleted."
    )
    maintenance_repair: bool = Field(
        False, description="Let the nightly maintenance delete orphans and fail broken assets."
    )
    deleted_retention_days: float = Field(
        30.0,
        ge=0,
        description="Days a deleted or replaced master (and its renditions) is kept before the "
        "nightly maintenance deletes its bytes; until then it counts against the quota.",
    )

    # --- metrics and health ---
    metrics_enabled: bool = Field(
        True,
        description="Count and serve Prometheus metrics (`/metrics`); false turns the "
        "instrumentation off (to measure its cost).",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the FTP node's and the worker's metrics ports bind to."
    )
    ftp_metrics_port: int = Field(
        9121, description="FTP node's /metrics, /healthz and /readyz port (0 = off)."
    )
    worker_metrics_port: int = Field(
        9122, description="Worker's /metrics, /healthz and /readyz port (0 = off)."
    )
    metrics_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token /metrics asks of clients outside loopback; without one, "
        "/metrics answers only loopback clients (403 to the others).",
    )

    # --- general ---
    log_level: str = Field(
        "INFO",
        description="Console level: INFO shows logins, uploads, transcodes, QC, licenses and "
        "errors; DEBUG adds job-queue polling and migration plumbing; WARNING or ERROR for less.",
    )

    log_format: Literal["text", "json"] = Field(
        "text",
        description="`text`: one `key=value` line per event; `json`: one JSON object per line "
        "(time, level, logger, message and every field, including request_id, session_id and "
        "upload_id).",
    )
    heartbeat_seconds: float = Field(
        10.0,
        gt=0,
        description="How often every FTP node, API server and worker refreshes its row in "
        "`nodes`; `jointpool status` shows a node silent for three heartbeats as stale.",
    )

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
        return level

    @field_validator(
        "ftp_tls_cert", "ftp_tls_key", "transcode_tmp_dir", "ftp_require_tls",
        "ftp_require_tls_reuse", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_path_is_none(cls, value: object) -> object:
        # An empty variable means "not set"; pydantic would read it as Path("."), the cwd.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("ftp_passive_ports")
    @classmethod
    def _check_port_range(cls, value: str) -> str:
        parse_port_range(value)
        return value

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        # Resolved once here, against the cwd of the process that loads the settings, so no
        # later chdir and no child process started with another cwd (weed runs in DATA_DIR)
        # can read a relative path differently.
        self.data_dir = self.data_dir.expanduser().resolve()
        for name in ("ftp_tls_cert", "ftp_tls_key", "transcode_tmp_dir"):
            value: Path | None = getattr(self, name)
            if value is not None:
                setattr(self, name, value.expanduser().resolve())
        self.database_url = absolute_sqlite_url(self.database_url)
        # A bare name ("ffmpeg") is looked up on PATH; a relative path is a file we resolve.
        for name in ("ffmpeg", "transcode_font"):
            text: str = getattr(self, name)
            if "/" in text and not Path(text).expanduser().is_absolute():
                setattr(self, name, str(Path(text).expanduser().resolve()))
        return self

    @model_validator(mode="after")
    def _check_secrets(self) -> Settings:
        if self.embedded_s3:
            return self
        for name in ("s3_access_key", "s3_secret_key"):
            secret: SecretStr = getattr(self, name)
            if secret.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                raise ConfigurationError(
                    f"JOINTPOOL_{name.upper()} is empty or a placeholder; set a real secret "
                    "when JOINTPOOL_S3_ENDPOINT points at an external S3"
                )
        return self

    @property
    def embedded_s3(self) -> bool:
        """Whether this process should start (or use) the embedded SeaweedFS."""
        return not self.s3_endpoint

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite under DATA_DIR."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'pool.db'}"

    @property
    def effective_s3_endpoint(self) -> str:
        """The S3 endpoint, the embedded one when none is configured."""
        return self.s3_endpoint or f"http://127.0.0.1:{self.s3_embedded_port}"

    @property
    def ftp_tls_required(self) -> bool:
        """Whether FTP needs TLS: as set, else everywhere but the embedded demo."""
        if self.ftp_require_tls is not None:
            return self.ftp_require_tls
        return not self.embedded_s3

    @property
    def ftp_tls_reuse_required(self) -> bool:
        """Whether TLS data connections must resume their control connection's session."""
        if self.ftp_require_tls_reuse is not None:
            return self.ftp_require_tls_reuse
        return self.ftp_tls_required

    @property
    def passive_ports_per_org(self) -> int:
        """Passive ports one organization may hold listening at once."""
        if self.ftp_passive_ports_per_org:
            return self.ftp_passive_ports_per_org
        return max(1, len(self.passive_port_range) // 4)

    @property
    def passive_port_range(self) -> range:
        """The passive data ports as a range."""
        low, high = parse_port_range(self.ftp_passive_ports)
        return range(low, high + 1)

    def with_embedded_secrets(self) -> Settings:
        """Fill empty S3 keys from DATA_DIR (generating them once) in embedded mode."""
        if not self.embedded_s3:
            return self
        stored = load_or_create_embedded_secrets(self.data_dir)
        update: dict[str, Any] = {}
        if not self.s3_access_key.get_secret_value():
            update["s3_access_key"] = SecretStr(stored["s3_access_key"])
        if not self.s3_secret_key.get_secret_value():
            update["s3_secret_key"] = SecretStr(stored["s3_secret_key"])
        return self.model_copy(update=update)


def absolute_sqlite_url(url: str) -> str:
    """Make the file path of a SQLite URL absolute; other URLs are returned unchanged."""
    if not url.startswith("sqlite"):
        return url
    parsed = make_url(url)
    database = parsed.database
    # `sqlite://` and `:memory:` have no file; `file:` URIs are passed to SQLite as they are.
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    absolute = str(Path(database).expanduser().resolve())
    return parsed.set(database=absolute).render_as_string(hide_password=False)


def parse_port_range(value: str) -> tuple[int, int]:
    """Parse `lo-hi` into two ports, refusing nonsense."""
    try:
        low_text, high_text = value.split("-", 1)
        low, high = int(low_text), int(high_text)
    except ValueError as exc:
        raise ValueError(f"port range must look like 30000-30099, not {value!r}") from exc
    if not (1 <= low <= high <= 65535):
        raise ValueError(f"port range {value!r} is outside 1-65535 or reversed")
    return low, high


def load_or_create_embedded_secrets(data_dir: Path) -> dict[str, str]:
    """Return the embedded-mode secrets, generating and storing them on first use."""
    path = data_dir / EMBEDDED_SECRETS_FILE
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    private_dir(data_dir)
    generated = {
        "s3_access_key": "JP" + secrets.token_hex(9).upper(),
        "s3_secret_key": secrets.token_urlsafe(30),
    }
    # Written with 0600 from the start so no other local user can read the keys.
    write_private(path, json.dumps(generated).encode())
    return generated


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, filling embedded secrets when needed."""
    return Settings(**overrides).with_embedded_secrets()
