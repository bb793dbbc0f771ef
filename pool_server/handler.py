"""The FTP command handler: thin subclass of pyftpdlib's TLS handler.

Every domain error raised while a command runs reaches `pre_process_command` and is
answered from the one table in `pool_server.replies`.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.handlers.ftp.producers import FileProducer

from pool_core import tracing
from pool_core.common.actor import FTP, Actor
from pool_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PoolError
from pool_core.files import tree, views
from pool_core.files.downloads import OffsetPastEnd, open_download
from pool_core.names import INCOMING_ROOT, check_portable_path
from pool_core.ops import metrics
from pool_core.ops.exposition import enabled as metrics_enabled
from pool_core.roles import check_ftp_command
from pool_core.uploads.service import committed_size, open_upload
from pool_server.auth import Principal
from pool_server.context import PoolContext
from pool_server.fs import PoolFilesystem
from pool_server.replies import reply_for, rest_refused
from pool_server.session_guards import SessionGuards
from pool_server.sessions import WatchedHandler
from pool_server.standard_replies import StandardReplies
from pool_server.transfers import DownloadSource, PoolDTPHandler, UploadSink
from pool_server.units import writing

log = logging.getLogger(__name__)

# The counter a refused transfer command moves.
TRANSFER_COUNTERS = {
    "STOR": metrics.ftp_uploads,
    "APPE": metrics.ftp_uploads,
    "RETR": metrics.ftp_downloads,
}
HASH_ALGORITHMS = {"SHA-256": "sha256", "MD5": "md5"}
DEFAULT_HASH = "SHA-256"


def _command(help_text: str, *, perm: str | None = "r", arg: bool | None = True) -> dict[str, Any]:
    return {"perm": perm, "auth": True, "arg": arg, "help": help_text}


_PROTO_CMDS = TLS_FTPHandler.proto_cmds.copy()
# No local files behind the tree: STOU's unique temp names and SITE CHMOD make no sense.
_PROTO_CMDS.pop("STOU", None)
_PROTO_CMDS.pop("SITE CHMOD", None)
_PROTO_CMDS.update(
    {
        "HASH": _command("Syntax: HASH <SP> file-name (checksum, see OPTS HASH)."),
        "XMD5": _command("Syntax: XMD5 <SP> file-name (MD5 checksum)."),
        "XSHA256": _command("Syntax: XSHA256 <SP> file-name (SHA-256 checksum)."),
    }
)


class PoolFTPHandler(WatchedHandler, SessionGuards, StandardReplies):
    """One FTP session of one organization's user."""

    pool: ClassVar[PoolContext]
    # pyftpdlib's untyped instance attributes this class reads and sets.
    _restart_position: int
    _extra_feats: list[str]
    data_channel: Any
    _in_dtp_queue: Any
    abstracted_fs = PoolFilesystem
    dtp_handler = PoolDTPHandler
    proto_cmds = _PROTO_CMDS
    banner = "Joint FTP Pool ready."
    # A name that is not valid UTF-8 is refused (501), never silently replaced with U+FFFD.
    unicode_errors = "strict"
    use_sendfile = False
    max_login_attempts = 3

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        self.principal: Principal | None = None
        # Set by the data channel when it ended an upload because an ABOR was waiting.
        self.abort_answered_by_data_channel = False
        self._hash_name = DEFAULT_HASH
        # Bound by the server for the session's thread: every line of this session carries it.
        self.session_id = tracing.new_id()
        self._session_counted = False
        super().__init__(conn, server, ioloop)

    # --- metrics of the session's life

    def on_connect(self) -> None:
        """Count the session as active until it closes."""
        if metrics_enabled():
            self._session_counted = True
            metrics.ftp_sessions_active.inc()
        super().on_connect()

    def close(self) -> None:
        """Stop counting the session (close runs more than once; the flag makes it once)."""
        if self._session_counted:
            self._session_counted = False
            metrics.ftp_sessions_active.dec()
        super().close()

    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> None:
        """Count the logins pyftpdlib refuses before they reach us (TLS required)."""
        if (
            cmd == "USER"
            and self.tls_control_required
            and not self._ssl_established
            and metrics_enabled()
        ):
            metrics.ftp_logins.labels(result="tls_required").inc()
        super().process_command(cmd, *args, **kwargs)

    # --- connection and dispatch

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        """Run one command, answering any domain error from the reply table."""
        if self.fs is not None:
            self.fs.forget_listing()
        try:
            if self.principal is not None:
                check_ftp_command(self.pool.db, self.principal, cmd, arg, cwd=self.fs.cwd)
            super().pre_process_command(line, cmd, arg)
        except PoolError as exc:
            # Refused by the role check or by the command itself: counted once, here.
            if cmd in TRANSFER_COUNTERS:
                _count_refused(TRANSFER_COUNTERS[cmd])
            self._reply_error(cmd, arg, reply_for(exc))
        except Exception:
            # A bug or an untranslated vendor error must cost one command, not the session
            # (pyftpdlib would drop the connection, and with it a client's whole batch).
            log.exception("command failed", extra={"cmd": cmd, "user": self.username})
            self._reply_error(cmd, arg, reply_for(RuntimeError()))

    def _reply_error(self, cmd: str, arg: str, reply: str) -> None:
        self.respond(reply)
        self.log_cmd(cmd, arg, int(reply[:3]), reply[4:])

    def on_login(self, username: str) -> None:
        """Make sure the organization's root folders exist (once per org and process)."""
        assert self.principal is not None
        self.watch_account()  # a disabled or re-passworded account's session ends
        org_id = self.principal.org_id
        if org_id in self.pool.orgs_with_roots:
            return
        with writing(self.pool.db) as session:
            tree.ensure_roots(session, org_id=org_id)
        self.pool.orgs_with_roots.add(org_id)

    def _actor(self) -> Actor:
        """The logged-in user acting through FTP."""
        principal = self.principal
        assert principal is not None
        return Actor(
            principal.org_id,
            principal.user_id,
            principal.role,
            FTP,
            self.remote_ip,
            principal.username,
        )

    def flush_account(self) -> None:
        """Forget who was logged in (USER again, REIN)."""
        super().flush_account()
        self.unwatch_account()
        self.principal = None

    def on_file_received(self, file: str) -> None:
        """Log a completed upload (the completion transaction already recorded the change)."""
        sink = self.data_channel.file_obj if self.data_channel else None
        view = getattr(sink, "finished", None)
        if metrics_enabled():
            metrics.ftp_uploads.labels(result="complete").inc()
        log.info(
            "upload complete",
            extra={"path": file, "user": self.username, "size": getattr(view, "size", None)},
        )
        tracing.bind(upload_id=None)

    def on_incomplete_file_received(self, file: str) -> None:
        """An interrupted upload stays pending (resumable); say so in the log."""
        if metrics_enabled():
            metrics.ftp_uploads.labels(result="interrupted").inc()
        log.info("upload interrupted", extra={"path": file, "user": self.username})
        tracing.bind(upload_id=None)

    def on_file_sent(self, file: str) -> None:
        """Count a complete download."""
        if metrics_enabled():
            metrics.ftp_downloads.labels(result="complete").inc()

    def on_incomplete_file_sent(self, file: str) -> None:
        """Count a download that ended early (the client may resume it with REST)."""
        if metrics_enabled():
            metrics.ftp_downloads.labels(result="interrupted").inc()

    def ftp_ABOR(self, line: str) -> None:
        """RFC 959: 426 for the transfer, then 226 for the ABOR, in that order.

        If the data connection ended while the ABOR was already waiting, the data channel
        has answered 426 for the transfer; the ABOR then gets its 226 here (pyftpdlib would
        say 225, "no transfer", and a client waiting for 226 would read the wrong reply).
        """
        answered, self.abort_answered_by_data_channel = self.abort_answered_by_data_channel, False
        if answered and self.data_channel is None:
            self.respond("226 ABOR command successful.")
            return
        super().ftp_ABOR(line)

    # --- transfers

    def ftp_STOR(self, file: str, mode: str = "w") -> str | None:
        """Stream an upload (see `_store`); a refusal answered here is counted."""
        stored = self._store(file, mode)
        if stored is None:
            _count_refused(metrics.ftp_uploads)
        return stored

    def _store(self, file: str, mode: str) -> str | None:
        """Stream an upload into S3; REST n or APPE continue a pending one.

        The preliminary 1xx reply goes out before the writer is opened: opening may wait for
        room in the process's upload memory budget, and a client waiting for a reply to STOR
        gives up after its response timeout (60 s for curl, 20 s for FileZilla), whereas a
        data connection that is not read yet just holds its bytes (TCP backpressure). Errors
        found while opening come as the final reply, which RFC 959 allows after 150.
        """
        assert self.principal is not None
        cmd = "APPE" if "a" in mode else "STOR"
        rest = self._restart_position
        self._restart_position = 0
        if not views.is_writable_path(file):
            raise PermissionDenied(f"{file} is read-only; upload into {INCOMING_ROOT}")
        check_portable_path(file)
        # APPE continues a pending upload, or a complete file at its exact size (a client
        # that lost the 226 of a clean end); REST n + STOR the same at n.
        offset = self._resume_size(file) if cmd == "APPE" else rest
        if self.data_channel is not None:
            self.respond("125 Data connection already open. Transfer starting.")
        else:
            self.respond("150 File status okay. About to open data connection.")
        ctx = self.pool
        try:
            writer = open_upload(
                ctx.db,
                ctx.storage,
                ctx.settings,
                org_id=self.principal.org_id,
                user_id=self.principal.user_id,
                path=file,
                offset=offset,
            )
        except PoolError as exc:
            self._drop_data_channel()
            refused = offset and isinstance(exc, (Conflict, InvalidInput))
            self.respond(rest_refused(offset, exc) if refused else reply_for(exc))
            return None
        # The pending upload's id names this upload in every line until it ends, and in the
        # jobs its completion enqueues (a resumed upload keeps the id it had).
        tracing.bind(upload_id=str(writer.pending_id))
        log.info("upload started", extra={"path": file, "user": self.username, "offset": offset})
        sink = UploadSink(writer, file, org=self.principal.org_code)
        if self.data_channel is not None:
            self.data_channel.file_obj = sink
            self.data_channel.enable_receiving(self._current_type, cmd)
        else:
            self._in_dtp_queue = (sink, cmd)
        return file

    def ftp_MKD(self, path: str) -> str | None:
        """Create a folder whose name a Windows mirror can store (553 otherwise)."""
        check_portable_path(path)
        result: str | None = super().ftp_MKD(path)
        return result

    def ftp_RNTO(self, path: str) -> str | None:
        """Rename to a name a Windows mirror can store (553 otherwise; RNFR is then spent)."""
        pending: str | None = getattr(self, "_rnfr", None)  # pyftpdlib's RNFR source
        if pending:  # without RNFR, pyftpdlib's 503 comes first
            try:
                check_portable_path(path)
            except InvalidInput:
                self._rnfr = None
                raise
        result: str | None = super().ftp_RNTO(path)
        return result

    def _drop_data_channel(self) -> None:
        """Close a data connection (open or being set up) that will carry nothing."""
        if self.data_channel is not None:
            self.data_channel.close()
            self.data_channel = None
        self._shutdown_connecting_dtp()

    def ftp_RETR(self, file: str) -> str | None:
        """Stream a download (see `_retrieve`); a refusal answered here is counted."""
        sent = self._retrieve(file)
        if sent is None:
            _count_refused(metrics.ftp_downloads)
        return sent

    def _retrieve(self, file: str) -> str | None:
        """Stream a file from S3, from the REST offset if one was given."""
        assert self.principal is not None
        rest = self._restart_position
        self._restart_position = 0
        try:
            # Every RETR of a licensed file counts against its license, resumes included.
            with writing(self.pool.db) as session:
                grant = open_download(session, actor=self._actor(), target=file, offset=rest)
        except OffsetPastEnd as exc:
            self.respond(f"554 {exc}.")
            return None
        key = grant.object_key if grant.size > rest else None
        source = DownloadSource(self.pool.storage, key, file, rest)
        producer = FileProducer(source, self._current_type)
        self.push_dtp_data(producer, isproducer=True, file=source, cmd="RETR")
        return file

    def ftp_SIZE(self, path: str) -> None:
        """Size of a file, or the committed size of a pending upload (for resuming)."""
        # Answered in ASCII mode too (unlike pyftpdlib): masters are binary, and resuming
        # clients ask SIZE before they switch to TYPE I.
        self.respond(f"213 {self._resume_size(path, missing_ok=False)}")

    def _resume_size(self, path: str, *, missing_ok: bool = True) -> int:
        """The pending upload's committed size, else the file's size (0 or NotFound if none)."""
        assert self.principal is not None
        with self.pool.db.session() as session:
            size = committed_size(session, org_id=self.principal.org_id, path=path)
        if size is not None:
            return size
        try:
            return int(self.fs.getsize(path))
        except NotFound:
            if missing_ok:
                return 0
            raise

    # --- checksums, answered from the database

    def _checksum(self, path: str, algorithm: str) -> tuple[Any, str]:
        view = self.fs.stat(path)
        if view.is_dir:
            raise NotFound(f"{path} is a folder")
        value = getattr(view, HASH_ALGORITHMS[algorithm], None)
        if not value:
            raise Conflict(f"no {algorithm} checksum for {path} yet (upload not finished)")
        return view, value

    def ftp_HASH(self, path: str) -> None:
        """draft-bryan-ftpext-hash: `213 <algo> <start>-<end> <hash> <path>`."""
        view, value = self._checksum(path, self._hash_name)
        self.respond(f"213 {self._hash_name} 0-{view.size} {value} {path}")

    def ftp_XMD5(self, path: str) -> None:
        """MD5 of a whole file (the de-facto XMD5 extension)."""
        self.respond(f"250 {self._checksum(path, 'MD5')[1].upper()}")

    def ftp_XSHA256(self, path: str) -> None:
        """SHA-256 of a whole file (the de-facto XSHA256 extension)."""
        self.respond(f"250 {self._checksum(path, 'SHA-256')[1].upper()}")

    def ftp_OPTS(self, line: str) -> None:
        """`OPTS HASH [algo]` selects the HASH algorithm; the rest is pyftpdlib's."""
        name, _, arg = line.strip().partition(" ")
        if name.upper() != "HASH":
            super().ftp_OPTS(line)
            return
        arg = arg.strip().upper()
        if not arg:
            self.respond(f"200 {self._hash_name}")
        elif arg in HASH_ALGORITHMS:
            self._hash_name = arg
            self.respond(f"200 {arg}")
        else:
            choices = ", ".join(HASH_ALGORITHMS)
            self.respond(f"501 Unsupported hash algorithm; use one of {choices}.")

    def ftp_FEAT(self, line: str) -> None:
        """Advertise the checksum commands with pyftpdlib's features."""
        algorithms = ";".join(
            name + ("*" if name == self._hash_name else "") for name in HASH_ALGORITHMS
        )
        base = [f for f in self._extra_feats if not f.startswith(("HASH ", "XMD5", "XSHA256"))]
        self._extra_feats = [*base, f"HASH {algorithms}", "XMD5", "XSHA256"]
        super().ftp_FEAT(line)


def _count_refused(counter: Any) -> None:
    if metrics_enabled():
        counter.labels(result="refused").inc()
