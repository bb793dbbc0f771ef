"""File-like objects that let pyftpdlib's data channel stream into and out of S3.

pyftpdlib's DTP handler only ever calls `write()`/`read()`, `close()`, `.name` and
`.closed` on its file object, so uploads feed the streaming `UploadWriter` directly and
downloads read from `storage.open_stream`: no byte touches the local disk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from OpenSSL import SSL
from pyftpdlib.exceptions import _RetryError
from pyftpdlib.handlers import DTPHandler, TLS_DTPHandler
from pyftpdlib.ioloop import _ERRNOS_DISCONNECTED
from pyftpdlib.log import logger as ftp_logger

from pool_core.errors import PoolError
from pool_core.ops import metrics
from pool_core.ops.exposition import enabled as metrics_enabled
from pool_core.storage.base import ObjectStorage
from pool_core.uploads.service import UploadWriter
from pool_server.link import ControlState, control_state
from pool_server.replies import reply_for
from pool_server.tls import mark_data_connection, session_fingerprint, session_resumed

log = logging.getLogger(__name__)


class UploadSink:
    """The data channel's file object for STOR/APPE: every write goes to the UploadWriter."""

    def __init__(self, writer: UploadWriter, path: str, *, org: str) -> None:
        self.writer = writer
        self.name = path
        self.closed = False
        self.finished: Any = None  # the FileView once finish() succeeded
        self.error: PoolError | None = None
        # For the throughput histogram: this transfer's bytes over its duration (a resumed
        # upload's earlier bytes came at another speed).
        self._started = time.monotonic()
        self._received = 0
        self._counted = metrics_enabled()
        self._pending = metrics.ftp_pending_uploads.labels(org=org)
        if self._counted:
            self._pending.inc()

    def write(self, data: bytes) -> int:
        """Hand a received chunk to the writer (which streams full parts to S3)."""
        self.writer.write(data)
        self._received += len(data)
        return len(data)

    def finish(self) -> Any:
        """Complete the upload: the file becomes visible in one transaction."""
        self.finished = self.writer.finish()
        if self._counted:
            elapsed = max(time.monotonic() - self._started, 1e-6)
            metrics.ftp_upload_throughput.observe(self._received / elapsed)
        self._stop_counting()
        return self.finished

    def _stop_counting(self) -> None:
        if self._counted:
            self._counted = False
            self._pending.dec()

    def close(self) -> None:
        """Keep an unfinished upload resumable (the data connection ended early)."""
        if self.closed:
            return
        self.closed = True
        self._stop_counting()
        if self.finished is None:
            try:
                self.writer.interrupt()
            except PoolError:
                # The pending state in the database is what resumes; log and move on.
                log.warning("could not record interrupted upload", extra={"path": self.name})


class DownloadSource:
    """The data channel's file object for RETR: reads stream from object storage."""

    def __init__(self, storage: ObjectStorage, key: str | None, path: str, start: int) -> None:
        self.name = path
        self.closed = False
        self._chunks: Iterator[bytes] | None = (
            storage.open_stream(key, start=start or None) if key else None
        )
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        """Return up to `size` bytes, b'' at the end."""
        if self._chunks is None:
            return b""
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._chunks = None
                break
            self._pending += chunk
        if size < 0:
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def close(self) -> None:
        """Release the HTTP stream."""
        self.closed = True
        chunks, self._chunks = self._chunks, None
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


class _StreamingDTPHandler(DTPHandler):  # type: ignore[misc]
    """Plain data channel that finishes uploads before replying 226 and maps domain errors.

    When an upload is complete (ARCHITECTURE decision 9): only on a clean end of the data
    stream (EOF, or TLS close-notify) with no error on the way, while the control connection
    is still open and has no ABOR waiting. pyftpdlib's `handle_close` sets
    `transfer_finished` for a reset too (asyncore turns ECONNRESET into `handle_close`), so
    this class tracks resets itself (see `recv`).

    Whether the 226 reaches the client cannot be known: only its next command would prove
    it, and it will not send one before the 226. So the file is complete once the 226 goes
    to a live control connection; a client that dies just after can still continue the
    complete file at its exact size (REST/APPE), and the settle window
    (`upload_settle_seconds`) keeps that short version away from the catalog.
    """

    # Fewer, larger reads: every chunk costs a Python call into the writer.
    ac_in_buffer_size = 262144
    ac_out_buffer_size = 262144
    # Set when the data connection broke (reset, TLS error) rather than ended.
    _link_broken = False
    # Set when a TLS data connection ended with a bare FIN, without close_notify.
    _tls_unclean_end = False

    def recv(self, buffer_size: int) -> bytes:
        """Read from the socket, telling a reset (an error) from a clean end of stream.

        A reset is an error on TLS too: a client that closes its socket with received bytes
        unread (TLS 1.3 session tickets on a data connection it never reads: Go's rclone
        without `disable_tls13`) makes its kernel send RST and drop whatever it had not
        sent yet, so the upload really is short. A TLS FIN without close-notify ("Unexpected
        EOF": curl, FileZilla) is taken as an end of stream, as vsftpd does by default
        (`strict_ssl_read_eof`); with `ftp_strict_tls_eof` it keeps the upload pending.
        """
        try:
            data: bytes = self.socket.recv(buffer_size)
        except OSError as exc:
            if exc.errno in _ERRNOS_DISCONNECTED:
                self._link_broken = True
                self.handle_close()
                return b""
            raise
        except SSL.SysCallError as exc:
            if exc.args and exc.args[0] in _ERRNOS_DISCONNECTED:
                self._link_broken = True
            elif exc.args[1:] == ("Unexpected EOF",):
                self._tls_unclean_end = True
                # OpenSSL refuses a shutdown after this: without `_error` the TLS layer's
                # close() would wait for one forever, and the reply with it.
                self._error = True
            raise  # the TLS layer above turns it into a close
        if not data:
            self.handle_close()
        return data

    def handle_read(self) -> None:
        """Receive a chunk and stream it into the upload; a domain error ends the transfer."""
        try:
            chunk = self.recv(self.ac_in_buffer_size)
        except _RetryError:
            return
        except OSError:
            self._link_broken = True
            self.handle_error()
            return
        self.tot_bytes_received += len(chunk)
        if not chunk:
            self.transfer_finished = not self._link_broken
            return
        if self._data_wrapper is not None:
            chunk = self._data_wrapper(chunk)
        try:
            self.file_obj.write(chunk)
        except PoolError as exc:
            self._fail(exc)

    # pyftpdlib aliases the event to the read method; the alias must point at ours.
    handle_read_event = handle_read

    def _fail(self, exc: PoolError) -> None:
        if isinstance(self.file_obj, UploadSink):
            self.file_obj.error = exc
        self.transfer_finished = False
        self._resp = (reply_for(exc), ftp_logger.warning)
        # Skip the TLS close-notify dance: the transfer failed, just drop the connection.
        self._error = True
        self.close()

    def close(self) -> None:
        """Finish a fully received upload first, so 226 means the file is really there."""
        if not self._closed and metrics_enabled():
            # Once per data connection: a counter update per chunk would cost on a 1 GiB file.
            metrics.ftp_received_bytes.inc(self.tot_bytes_received)
            metrics.ftp_sent_bytes.inc(self.tot_bytes_sent)
        sink = self.file_obj
        if (
            not self._closed
            and self.receive
            and isinstance(sink, UploadSink)
            and sink.error is None
            and sink.finished is None
            and self.transfer_finished
        ):
            self._settle_upload(sink)
        super().close()

    def _settle_upload(self, sink: UploadSink) -> None:
        """Finish the upload, or keep it resumable if the transfer did not end cleanly."""
        state = ControlState.GONE if self._link_broken else control_state(self.cmd_channel)
        if self._link_broken:
            self.transfer_finished = False
            self._resp = (
                "426 Connection reset; the upload is kept resumable (SIZE).",
                ftp_logger.info,
            )
        elif self._tls_unclean_end and self.cmd_channel.pool.settings.ftp_strict_tls_eof:
            self.transfer_finished = False
            self._resp = (
                "426 TLS data connection ended without close_notify; the upload is kept "
                "resumable (SIZE).",
                ftp_logger.info,
            )
        elif state is ControlState.GONE:
            # Nobody is left to receive a 226: not a completed transfer (the 426 goes nowhere).
            self.transfer_finished = False
            self._resp = ("426 Control connection closed; upload kept resumable.", ftp_logger.info)
        elif state is ControlState.ABORTING:
            # The ABOR was sent before the data ended; the handler answers it with 226.
            self.transfer_finished = False
            self._resp = ("426 Transfer aborted via ABOR.", ftp_logger.info)
            self.cmd_channel.abort_answered_by_data_channel = True
        else:
            try:
                sink.finish()
            except PoolError as exc:
                sink.error = exc
                self.transfer_finished = False
                self._resp = (reply_for(exc), ftp_logger.warning)


class PoolDTPHandler(TLS_DTPHandler, _StreamingDTPHandler):  # type: ignore[misc]
    """The data channel: TLS when the session chose PROT P, streaming either way.

    MRO: TLS_DTPHandler, SSLConnectionMixin, _StreamingDTPHandler, DTPHandler, so the TLS
    layer's read/close wrappers call down into the streaming versions.
    """

    def __init__(self, sock: Any, cmd_channel: Any) -> None:
        # Read by DTPHandler.__init__ when it arms the idle check (no byte for this long:
        # closed with 421; pyftpdlib checks every `timeout` seconds).
        self.timeout = cmd_channel.pool.settings.ftp_data_idle_timeout
        super().__init__(sock, cmd_channel)
        if self.connected and cmd_channel.tls_data_required and not cmd_channel._prot:
            # pyftpdlib checks PROT at PASV/PORT only; USER or REIN after PASV resets it.
            self._refuse("522 Data connections must use TLS (PROT P).")

    def handle_ssl_established(self) -> None:
        """Refuse a data connection that does not resume this account's TLS session.

        Only the client that logged in (with any of its control connections) holds such a
        session, so nobody else who reaches the passive port first gets the data.
        """
        channel = self.cmd_channel
        if channel.tls_reuse_required and not (
            session_resumed(self.socket)
            and channel.data_session_allowed(session_fingerprint(self.socket))
        ):
            self._refuse(
                "522 TLS session reuse required on data connections: the data connection "
                "must resume the control connection's TLS session."
            )

    def send(self, data: bytes) -> int:
        """Write nothing on a TLS data connection until its handshake was checked.

        Otherwise a RETR queued before the connection came would go out from SSL_write,
        which runs the server's half of the handshake itself and sends TLS 1.3 0.5-RTT
        data before `handle_ssl_established` could refuse whoever connected.
        """
        if self._ssl_requested and not self._ssl_established:
            return 0
        sent: int = super().send(data)
        return sent

    def _refuse(self, reply: str) -> None:
        self.transfer_finished = False
        self._resp = (reply, ftp_logger.warning)
        self._error = True  # no close_notify dance with a connection we refuse
        self.close()

    def secure_connection(self, ssl_context: SSL.Context) -> None:
        """Wrap the data socket in TLS, marked so that it sends no session tickets."""
        super().secure_connection(ssl_context)
        # Marked before the handshake, which runs later from the IO loop.
        if isinstance(self.socket, SSL.Connection):
            mark_data_connection(self.socket)
