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
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

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
    return context


def mark_data_connection(connection: SSL.Connection) -> None:
    """Mark a not yet handshaken connection as a data connection: it will send no tickets."""
    connection.set_app_data(_DATA_CONNECTION)


def _no_tickets_on_data_connections(connection: SSL.Connection) -> None:
    if connection.get_app_data() == _DATA_CONNECTION:
        connection.set_options(SSL.OP_NO_TICKET)
