"""Phase `fairness` of bench/ftp.py: one member's trickling uploads against another's upload.

Member A keeps `--tricklers` uploads open, each sending 1 KiB every half second (an upload
that waits for memory and is answered 451 starts again, as a hostile client would). Member
B uploads one `--fair-mib` file with curl, alone and then while A trickles, in A-B-B-A
order (alone, contended, contended, alone), best of each. The ratio is B's time alone over
its time beside A: issue 15 wants at least 0.8 (A slows B by at most 20 %).
"""

from __future__ import annotations

import ftplib
import threading
import time
from collections.abc import Callable

from tests.fixtures.ftp import FtpLogin

TARGET_FAIRNESS = 0.8
TRICKLE = b"t" * 1024
TRICKLE_EVERY = 0.5


class Tricklers:
    """`count` slow uploads of one account, kept open until `stop()`."""

    def __init__(self, host: str, port: int, login: FtpLogin, count: int) -> None:
        self.host, self.port, self.login = host, port, login
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.started = 0  # uploads that got their 150 at least once
        self.restarts = 0  # uploads answered 4xx (no memory in time) and begun again
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)
        ]

    def __enter__(self) -> Tricklers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, number: int) -> None:
        counted = False
        while not self._stop.is_set():
            client = ftplib.FTP(timeout=120)
            try:
                client.connect(self.host, self.port)
                client.login(self.login.username, self.login.password)
                client.voidcmd("TYPE I")
                conn = client.transfercmd(f"STOR /incoming/trickle-{number}.bin")
                if not counted:
                    counted = True
                    with self._lock:
                        self.started += 1
                with conn:
                    while not self._stop.is_set():
                        conn.sendall(TRICKLE)
                        self._stop.wait(TRICKLE_EVERY)
            except (ftplib.Error, OSError):
                with self._lock:
                    self.restarts += 1
                self._stop.wait(TRICKLE_EVERY)
            finally:
                client.close()


def measure(
    host: str,
    port: int,
    *,
    attacker: FtpLogin,
    tricklers: int,
    upload: Callable[[], None],
) -> tuple[float, float, int]:
    """B's best time alone and beside A's tricklers (A-B-B-A), and A's restarts."""
    alone: list[float] = []
    beside: list[float] = []
    restarts = 0
    for with_tricklers in (False, True, True, False):
        if not with_tricklers:
            alone.append(_timed(upload))
            continue
        with Tricklers(host, port, attacker, tricklers) as running:
            deadline = time.monotonic() + 120
            while running.started < tricklers and time.monotonic() < deadline:
                time.sleep(0.1)
            beside.append(_timed(upload))
            restarts += running.restarts
    return min(alone), min(beside), restarts


def _timed(upload: Callable[[], None]) -> float:
    started = time.perf_counter()
    upload()
    return time.perf_counter() - started


def report(size_mib: int, alone_s: float, beside_s: float, tricklers: int, restarts: int) -> bool:
    """Print the ratio; True when it meets the target."""
    ratio = alone_s / beside_s
    print(f"fairness: {size_mib} MiB by member B alone {size_mib / alone_s:.0f} MiB/s, beside "
          f"member A's {tricklers} trickling uploads {size_mib / beside_s:.0f} MiB/s, ratio "
          f"{ratio:.2f} (target >= {TARGET_FAIRNESS}); A's uploads answered 451 and "
          f"restarted: {restarts}")  # fmt: skip
    return ratio >= TARGET_FAIRNESS
