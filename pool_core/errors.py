"""Domain errors: the one exception tree every adapter maps to its own replies.

PoolError
├── ConfigurationError        settings are missing, inconsistent or placeholders
├── NotFound                  a thing the caller named does not exist (or is not theirs)
├── Conflict                  the request clashes with the current state
│   └── AlreadyExists
├── InvalidInput              bad names, hostile paths, malformed sidecars
├── PermissionDenied          authenticated, but not allowed
├── AuthenticationFailed      unknown user, wrong secret, expired or revoked token
├── QuotaExceeded             an organization's byte quota is used up
├── Busy                      a shared resource stayed taken too long; retry later
├── StorageError              object storage failed
│   ├── ObjectNotFound        the key (or upload) does not exist
│   ├── StorageAuthError      storage refused our credentials
│   └── StorageUnavailable    storage is unreachable or overloaded (transient)
└── JobError                  a job failed
    └── TransientJobError     ... but may succeed when retried
"""

from __future__ import annotations


class PoolError(Exception):
    """Base of every error the pool raises on purpose."""


class ConfigurationError(PoolError, ValueError):
    """Settings are missing, inconsistent or placeholders."""


class NotFound(PoolError):
    """A named thing does not exist or is not visible to the caller."""


class Conflict(PoolError):
    """The request clashes with the current state."""


class AlreadyExists(Conflict):
    """A thing with this identity already exists."""


class InvalidInput(PoolError):
    """Input is malformed or hostile."""


class PermissionDenied(PoolError):
    """The caller is known but not allowed to do this."""


class AuthenticationFailed(PoolError):
    """The credentials were not accepted."""


class QuotaExceeded(PoolError):
    """An organization's storage quota is used up."""


class Busy(PoolError):
    """A shared resource of the server (upload memory) stayed taken; try again later."""


class StorageError(PoolError):
    """Object storage failed."""


class ObjectNotFound(StorageError, NotFound):
    """The object key or multipart upload does not exist."""


class StorageAuthError(StorageError):
    """Object storage refused our credentials."""


class StorageUnavailable(StorageError):
    """Object storage is unreachable or overloaded; retrying may help."""


class JobError(PoolError):
    """A job failed permanently."""


class TransientJobError(JobError):
    """A job failed for a reason that may go away (storage, database): retry it."""
