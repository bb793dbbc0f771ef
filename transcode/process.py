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
from collections.abc import Callable
from pathlib import Path

from pool_core.errors import JobError, TransientJobError
from transcode.safety import Limits, redact_urls

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


class FfmpegLimitExceeded(FfmpegFailed):
    """ffmpeg ran into its CPU-time or memory limit."""


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
    limits: Limits | None = None,
) -> float:
    """Run ffmpeg to completion and return its wall-clock seconds; raise on error or limit.

    With `progress_path` (ffmpeg's `-progress` file), how far it got is logged now and then.
    `limits` (CPU time, memory) are set in the child before ffmpeg starts.
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
                preexec_fn=_child_setup(limits),
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
        if limits is not None:
            _raise_if_limited(code, limits, log_path, summary)
        if NETWORK_FAILURES.search(summary):
            raise FfmpegNetworkError(f"ffmpeg lost the master's storage connection: {summary}")
        raise FfmpegFailed(f"ffmpeg failed on the master (exit {code}): {summary}")
    return elapsed


# How a process the kernel stopped at RLIMIT_CPU ends: ffmpeg catches SIGXCPU and exits
# ("received signal 24"); a decoder stuck in a loop never looks, and SIGKILL comes at the
# hard limit a second later.
_CPU_KILLS = (-signal.SIGXCPU, -signal.SIGKILL)
_CPU_SIGNAL_LOGGED = f"received signal {int(signal.SIGXCPU)}"
# How it ends at RLIMIT_AS: an allocation fails, reported, or dereferenced unchecked.
_OUT_OF_MEMORY = re.compile(r"Cannot allocate memory|out of memory|ENOMEM", re.IGNORECASE)
_MEMORY_CRASHES = (-signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT)


def _raise_if_limited(code: int, limits: Limits, log_path: Path, summary: str) -> None:
    """Name the limit ffmpeg ran into, if it ran into one."""
    log = log_path.read_text(encoding="utf-8", errors="replace")
    if limits.cpu_seconds is not None and (code in _CPU_KILLS or _CPU_SIGNAL_LOGGED in log):
        raise FfmpegLimitExceeded(
            f"ffmpeg used up its CPU-time limit ({limits.cpu_seconds} s) and was stopped; "
            "the master may be damaged in a way that makes decoding run away"
        )
    if limits.memory_bytes is not None and (code in _MEMORY_CRASHES or _OUT_OF_MEMORY.search(log)):
        raise FfmpegLimitExceeded(
            f"ffmpeg ran into its memory limit ({limits.memory_bytes >> 20} MiB) and failed "
            f"(exit {code}); the master may need more than the pool allows: {summary}"
        )


def _child_setup(limits: Limits | None) -> Callable[[], None]:
    """What the child runs before exec: its own process group, death with us, the limits."""

    def setup() -> None:
        _detach_and_die_with_parent()
        if limits is not None:
            limits.apply()

    return setup


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
    # ffmpeg names its input in errors ("Error opening input file https://…"): the presigned
    # URL is a credential to the master and must never reach a reason others can read, so
    # it goes before anything is cut (a cut URL would no longer look like one).
    text = redact_urls(log_path.read_text(encoding="utf-8", errors="replace"))
    errors = [
        line.strip()
        for line in text.splitlines()
        if "[error]" in line or "[fatal]" in line or "Error" in line
    ]
    summary = " | ".join(errors[-4:]) if errors else text[-LOG_TAIL_CHARS:].strip()
    return summary[-LOG_TAIL_CHARS:]
