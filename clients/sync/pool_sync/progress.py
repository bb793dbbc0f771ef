"""Progress: one redrawn status line on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def human(nbytes: float) -> str:
    """Format a byte count: 1.5 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


class Progress:
    """Counts bytes and files; thread-safe."""

    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._lock = threading.Lock()
        self.total_bytes = 0
        self.total_files = 0
        self.done_bytes = 0
        self.done_files = 0
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def log(self, message: str) -> None:
        """Print one line (above the status line on a terminal)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._lock:
            if self.interactive:
                self._write("\r\033[K" + message + "\n")
            else:
                self._write(f"{stamp} {message}\n")
            self.stream.flush()

    def _write(self, text: str) -> None:
        # Paths come from other broadcasters' titles (Cyrillic, Azerbaijani, look-alikes):
        # a stream in a narrower code page (Windows writes a redirected stdout in cp1252)
        # shows what it cannot encode as an escape instead of stopping the run.
        encoding = getattr(self.stream, "encoding", None)
        if encoding:
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        self.stream.write(text)

    def start(self, files: int, nbytes: int) -> None:
        """Begin counting a run of `files` files totalling `nbytes` to fetch."""
        self.total_files, self.total_bytes = files, nbytes
        self.started = time.monotonic()
        if self.interactive:
            self._thread = threading.Thread(target=self._redraw, daemon=True)
            self._thread.start()

    def add(self, nbytes: int) -> None:
        """Count received bytes."""
        with self._lock:
            self.done_bytes += nbytes

    def file_done(self) -> None:
        """Count one finished (or failed) file."""
        with self._lock:
            self.done_files += 1

    def rate(self) -> float:
        """Bytes per second so far."""
        return self.done_bytes / max(time.monotonic() - self.started, 1e-6)

    def _line(self) -> str:
        rate = self.rate()
        left = max(self.total_bytes - self.done_bytes, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        return (
            f"[{self.done_files}/{self.total_files}] {human(self.done_bytes)} / "
            f"{human(self.total_bytes)}  {human(rate)}/s  ETA {eta}"
        )

    def _redraw(self) -> None:
        while not self._stop.wait(0.25):
            with self._lock:
                self.stream.write("\r\033[K" + self._line())
                self.stream.flush()

    def stop(self) -> None:
        """Stop redrawing and clear the status line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()
