"""Run one ffmpeg command under a wall-clock limit, killable, with its log in a file.

The log goes to a file rather than a pipe so a chatty ffmpeg can never block on a full pipe
buffer; ffmpeg runs in its own process group so the kill takes any helper with it, and on
Linux it is told to die with its worker, so a worker killed with -9 leaves no orphan behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pool_core.errors import JobError, TransientJobError

logger = logging.getLogger("transcode.process")

POLL_SECONDS = 0.25
PROGRESS_LOG_SECONDS = 30.0
# How ffmpeg's http/tcp protocols report a storage or network failure (not a file problem).
NETWORK_FAILURES = re.compile(
    r"HTTP error 5\d\d|Server returned 5\d\d|Server returned 403|Connection refused|"
    r"Connection reset by peer|Connection timed out|Network is unreachable|"
    r"Failed to resolve hostname|End of file while reading HTTP|Broken pipe",
    re.IGNORECASE,
)
PR_SET_PDEATHSIG = 1
LOG_TAIL_CHARS = 600


class FfmpegFailed(JobError):
    """ffmpeg exited with an error on this master."""


class FfmpegTimeout(JobError):
    """ffmpeg ran past the wall-clock limit and was killed."""


class FfmpegNetworkError(TransientJobError):
    """ffmpeg lost the master's URL (storage down, connection reset): worth a retry."""


class Cancelled(TransientJobError):
    """The job was taken away from this worker (lease lost, shutdown) while ffmpeg ran."""


def run_ffmpeg(
    args: list[str],
    *,
    log_path: Path,
    timeout: float,
    cancel: threading.Event | None = None,
    progress_path: Path | None = None,
    label: str = "",
) -> float:
    """Run ffmpeg to completion and return its wall-clock seconds; raise on error or limit.

    With `progress_path` (ffmpeg's `-progress` file), how far it got is logged now and then.
    """
    started = time.monotonic()
    last_report = started
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=_detach_and_die_with_parent,
            )
        except OSError as exc:
            raise JobError(f"ffmpeg could not be started: {exc}") from exc
        try:
            while True:
                try:
                    code = process.wait(timeout=POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    pass
                elapsed = time.monotonic() - started
                if progress_path is not None and time.monotonic() - last_report > (
                    PROGRESS_LOG_SECONDS
                ):
                    last_report = time.monotonic()
                    logger.info(
                        "ffmpeg %s: %s of the master done after %.0f s",
                        label,
                        _progress(progress_path),
                        elapsed,
                    )
                if cancel is not None and cancel.is_set():
                    _kill(process)
                    raise Cancelled("the transcode was cancelled: this worker lost the job")
                if elapsed > timeout:
                    _kill(process)
                    raise FfmpegTimeout(
                        f"ffmpeg did not finish within {timeout:.0f} s and was stopped; the "
                        "master may be damaged in a way that makes decoding hang"
                    )
        finally:
            # Whatever happened above (including KeyboardInterrupt), never leave ffmpeg behind.
            if process.poll() is None:
                _kill(process)
    elapsed = time.monotonic() - started
    if code != 0:
        summary = _tail(log_path)
        if NETWORK_FAILURES.search(summary):
            raise FfmpegNetworkError(f"ffmpeg lost the master's storage connection: {summary}")
        raise FfmpegFailed(f"ffmpeg failed on the master (exit {code}): {summary}")
    return elapsed


def _detach_and_die_with_parent() -> None:
    """In the child: own process group, and SIGKILL when the worker dies (even by kill -9)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()


def _progress(path: Path) -> str:
    """The last `out_time` ffmpeg wrote to its progress file, e.g. "00:12:31"."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return "nothing yet"
    times = re.findall(r"^out_time=(\d+:\d+:\d+)", text, re.MULTILINE)
    return times[-1] if times else "nothing yet"


def _tail(log_path: Path) -> str:
    """The last error lines of the log, for a failure reason a person can read."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    errors = [
        line.strip()
        for line in text.splitlines()
        if "[error]" in line or "[fatal]" in line or "Error" in line
    ]
    summary = " | ".join(errors[-4:]) if errors else text[-LOG_TAIL_CHARS:].strip()
    return summary[-LOG_TAIL_CHARS:]
