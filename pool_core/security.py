"""Password and token hashing.

Passwords use scrypt (a memory-hard KDF in the standard library); API tokens are long random
strings, so a single SHA-256 is enough and lets us look them up by hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# About 30-60 ms per hash on the 2-core reference machine: slow enough to make offline
# guessing expensive, fast enough that a login storm is absorbed by the FTP login cache.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
TOKEN_PREFIX = "jp_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """Hash a password into a self-describing `scrypt$n$r$p$salt$hash` string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Check a password against a stored hash in constant time."""
    try:
        scheme, n, r, p, salt, expected = encoded.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(_unb64(expected)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, _unb64(expected))


# Verified against when the user does not exist, so unknown users cost the same work.
DUMMY_PASSWORD_HASH = hash_password(secrets.token_urlsafe(16))


def credential_fingerprint(password_hash: str) -> str:
    """A short digest of a stored password hash: it changes whenever the password is set.

    A live session remembers the fingerprint it logged in with; a different one later means
    the password was changed (every hash has a fresh salt, even for the same password).
    """
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def generate_password() -> str:
    """A random FTP password people can still type: 20 URL-safe characters."""
    return secrets.token_urlsafe(15)


def generate_token() -> str:
    """A new API token: a recognisable prefix plus 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()
