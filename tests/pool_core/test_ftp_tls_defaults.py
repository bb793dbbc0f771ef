"""FTP TLS is required outside the embedded demo, and with it TLS session reuse."""

from __future__ import annotations

from pool_core.settings import Settings

EXTERNAL_S3 = {
    "s3_endpoint": "http://s3.example.test",
    "s3_access_key": "real-access-key",
    "s3_secret_key": "real-secret-key",
}


def test_tls_and_reuse_are_required_outside_the_embedded_demo() -> None:
    settings = Settings(**EXTERNAL_S3)
    assert settings.ftp_tls_required and settings.ftp_tls_reuse_required


def test_the_embedded_demo_allows_plain_ftp() -> None:
    settings = Settings(s3_endpoint="")
    assert settings.embedded_s3
    assert not settings.ftp_tls_required and not settings.ftp_tls_reuse_required


def test_explicit_values_win() -> None:
    assert not Settings(**EXTERNAL_S3, ftp_require_tls=False).ftp_tls_required
    assert Settings(s3_endpoint="", ftp_require_tls=True).ftp_tls_reuse_required
    assert not Settings(**EXTERNAL_S3, ftp_require_tls_reuse=False).ftp_tls_reuse_required
    # An empty variable means "the default".
    assert Settings(**EXTERNAL_S3, ftp_require_tls="").ftp_tls_required
