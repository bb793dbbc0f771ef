"""FTPS certificates and the server-side TLS context.

Data connections send no TLS 1.3 session tickets. OpenSSL sends a NewSessionTicket after
every TLS 1.3 handshake, resumed ones included. A client that only writes to an upload's
data connection never reads it (rclone: Go's crypto/tls, golang/go#25228), and closing a
socket with unread bytes makes the client's kernel send RST and drop the tail of the upload
still in its send queue (pyftpdlib#602). Data connections resume the control session, so
they need no ticket of their own; the control connection still gets its tickets, which the
client reads with the replies and resumes from.

pyOpenSSL does not wrap SSL_set_num_tickets. What it has is the server-name callback, which
OpenSSL runs for every ClientHello (with or without SNI) after the session lookup: setting
SSL_OP_NO_TICKET there makes OpenSSL drop the ticket it meant to send, and the session being
resumed stays resumed. tests/pool_server/test_tls.py counts the tickets, so an OpenSSL that
changes this fails a test instead of truncating uploads again.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _openssl

from pool_core.errors import ConfigurationError
from pool_core.private_files import write_private
from pool_core.settings import Settings

SELF_SIGNED_CERT = "ftps-cert.pem"
SELF_SIGNED_KEY = "ftps-key.pem"
# Any stable bytes: OpenSSL only caches and resumes server sessions under a session id
# context, and the data connections must resume the control connection's session.
SESSION_ID_CONTEXT = b"jointpool-ftps"
# The app data that marks a data connection (pyftpdlib sets none of its own).
_DATA_CONNECTION = "jointpool-ftps-data"


def ensure_certificate(settings: Settings) -> tuple[Path, Path]:
    """Return the certificate and key paths, generating a self-signed pair on first run."""
    if settings.ftp_tls_cert:
        cert = Path(settings.ftp_tls_cert)
        key = Path(settings.ftp_tls_key) if settings.ftp_tls_key else cert
        for path in (cert, key):
            if not path.is_file():
                raise ConfigurationError(f"FTPS certificate file {path} does not exist")
        return cert, key
    cert = settings.data_dir / SELF_SIGNED_CERT
    key = settings.data_dir / SELF_SIGNED_KEY
    if not (cert.is_file() and key.is_file()):
        write_self_signed(cert, key, hostname=settings.ftp_masquerade_address or "localhost")
    return cert, key


def write_self_signed(cert_path: Path, key_path: Path, *, hostname: str) -> None:
    """Write a fresh self-signed ECDSA P-256 certificate valid for ten years."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(private_key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key is written 0600 from the first byte; a crash leaves no readable half-file.
    write_private(key_path, key_bytes)
    tmp_cert = cert_path.with_suffix(".tmp")
    tmp_cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    tmp_cert.replace(cert_path)


def make_ssl_context(cert: Path, key: Path) -> SSL.Context:
    """A TLS 1.2+ server context that lets data connections resume the control session."""
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)
    context.use_certificate_chain_file(str(cert))
    context.use_privatekey_file(str(key))
    context.check_privatekey()
    context.set_session_id(SESSION_ID_CONTEXT)
    context.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    # The only hook that runs between the session lookup and the ticket decision; a future
    # SNI certificate switch must keep calling it.
    context.set_tlsext_servername_callback(_no_tickets_on_data_connections)
    context.set_info_callback(_collect_control_sessions)
    return context


def session_resumed(connection: SSL.Connection) -> bool:
    """Whether the (handshaken) connection resumed an earlier TLS session.

    pyOpenSSL has no wrapper for SSL_session_reused; its binding library has the function.
    """
    return bool(_openssl.SSL_session_reused(connection._ssl))


# Sessions a control connection may be resumed with: OpenSSL sends two TLS 1.3 tickets,
# each its own session, and clients differ in which one they resume (wget: the first).
_KEPT_SESSIONS = 8


def _collect_control_sessions(connection: SSL.Connection, where: int, _ret: int) -> None:
    # Runs at each handshake state change, in the thread doing the handshake: while
    # OpenSSL writes the tickets the connection's session moves from one to the next.
    if not where & (SSL.SSL_CB_LOOP | SSL.SSL_CB_HANDSHAKE_DONE):
        return
    kept = connection.get_app_data()
    if kept == _DATA_CONNECTION:
        return
    if not isinstance(kept, list):
        kept = []
        connection.set_app_data(kept)
    fingerprint = session_fingerprint(connection)
    if fingerprint is not None and fingerprint not in kept:
        kept.append(fingerprint)
        del kept[:-_KEPT_SESSIONS]


def control_session_fingerprints(connection: SSL.Connection) -> frozenset[bytes]:
    """Every session a client may resume from this control connection (its tickets too)."""
    kept = connection.get_app_data()
    found = set(kept) if isinstance(kept, list) else set()
    current = session_fingerprint(connection)
    if current is not None:
        found.add(current)
    return frozenset(found)


def session_fingerprint(connection: SSL.Connection) -> bytes | None:
    """A digest of the connection's current session secret (None before a handshake).

    A data connection that resumes a session has the secret of the session it resumed:
    the TLS 1.2 master secret, or with TLS 1.3 the PSK of the ticket, which OpenSSL keeps
    as the session's master key (the control connection's current session is the one of
    its last ticket, the one clients resume). Only a digest is kept, never the secret.
    """
    session = connection.get_session()
    if session is None:
        return None
    buffer = _ffi.new("unsigned char[]", 256)
    length = _openssl.SSL_SESSION_get_master_key(session._session, buffer, 256)
    if not length:
        return None
    return hashlib.sha256(_ffi.buffer(buffer, length)[:]).digest()


def check_session_reuse_support() -> None:
    """Fail at start, not per connection, where the OpenSSL binding lacks the functions."""
    if not all(
        hasattr(_openssl, name) for name in ("SSL_session_reused", "SSL_SESSION_get_master_key")
    ):
        raise ConfigurationError(
            "this pyOpenSSL cannot tell resumed TLS sessions; set "
            "JOINTPOOL_FTP_REQUIRE_TLS_REUSE=false or upgrade pyOpenSSL"
        )


class ControlSessions:
    """The TLS sessions of the control connections, per FTP account.

    A data connection must resume a session that a control connection of the same
    account negotiated. Its own control connection's, as vsftpd's `require_ssl_reuse`
    demands, or a sibling's: clients that run several control connections at once keep
    one TLS session cache per host (rclone, Go's crypto/tls), so a data connection may
    offer the ticket another of its control connections got last. Someone without the
    account's password has no such session and cannot take a passive port.

    That sibling may still be logging in: the client caches its ticket when it reads the
    first reply after the handshake (TLS 1.3) or at the handshake itself (TLS 1.2), before
    it sends PASS. So sessions are recorded from the handshake on, without an account until
    the login succeeds, and a data connection offering a session still logging in waits
    for that login (rclone under load: 522 before).
    """

    # A closed control connection's sessions stay valid this long: a client's cache may
    # still offer one of its tickets (rclone reuses tickets across its connections), and
    # only a client that had the account's session can offer it.
    CLOSED_GRACE_SECONDS = 600.0
    # How long a data connection waits for the control connection whose session it offers
    # to log in (a login takes a password hash and, after failures, a slowdown).
    PENDING_LOGIN_WAIT_SECONDS = 10.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._changed = threading.Condition()
        self._clock = clock
        self._keys = itertools.count()
        # control key -> (account or None while logging in, fingerprints, closed at or None)
        self._by_control: dict[int, tuple[object, frozenset[bytes], float | None]] = {}

    def record(self, control: object, account: object, fingerprints: frozenset[bytes]) -> None:
        """Remember (or refresh) a control connection's sessions; `account` None: not logged in."""
        with self._changed:
            self._prune()
            self._by_control[self._key(control)] = (account, fingerprints, None)
            self._changed.notify_all()

    def forget(self, control: object) -> None:
        """The control connection logged out or closed: its sessions expire after a grace."""
        with self._changed:
            key = self._key(control)
            entry = self._by_control.get(key)
            if entry is not None and entry[2] is None:
                if entry[0] is None:
                    del self._by_control[key]  # never logged in: its sessions were nobody's
                else:
                    self._by_control[key] = (entry[0], entry[1], self._clock())
            self._changed.notify_all()

    def belongs_to(self, account: object, fingerprint: bytes, *, wait: float = 0.0) -> bool:
        """Whether a (live or recently closed) control connection of `account` had this session.

        A session of a control connection that is still logging in is waited for, up to
        `wait` seconds: it belongs to `account` once that connection logs in as `account`.
        """
        deadline = time.monotonic() + wait
        with self._changed:
            while True:
                self._prune()
                if self._owned_by(account, fingerprint):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._logging_in(fingerprint):
                    return False
                self._changed.wait(remaining)

    def _owned_by(self, account: object, fingerprint: bytes) -> bool:
        return any(
            owner == account and fingerprint in fingerprints
            for owner, fingerprints, _ in self._by_control.values()
        )

    def _logging_in(self, fingerprint: bytes) -> bool:
        return any(
            owner is None and closed is None and fingerprint in fingerprints
            for owner, fingerprints, closed in self._by_control.values()
        )

    def _key(self, control: object) -> int:
        # A key of our own, not id(): a closed connection's id may be reused by a new one
        # while the old one's sessions are still in their grace period.
        key = getattr(control, "_control_sessions_key", None)
        if key is None:
            key = next(self._keys)
            setattr(control, "_control_sessions_key", key)  # noqa: B010
        return int(key)

    def _prune(self) -> None:
        cutoff = self._clock() - self.CLOSED_GRACE_SECONDS
        for key, (_, _, closed) in list(self._by_control.items()):
            if closed is not None and closed < cutoff:
                del self._by_control[key]


def mark_data_connection(connection: SSL.Connection) -> None:
    """Mark a not yet handshaken connection as a data connection: it will send no tickets."""
    connection.set_app_data(_DATA_CONNECTION)


def _no_tickets_on_data_connections(connection: SSL.Connection) -> None:
    if connection.get_app_data() == _DATA_CONNECTION:
        connection.set_options(SSL.OP_NO_TICKET)
