"""Errors of the sync client. Fatal ones stop the run; item errors fail one file.

SyncError
├── ConfigError          the config file is missing, malformed or incomplete
├── DestinationError     the destination folder is missing or not writable
├── LockedError          another sync is running on the same destination
├── TokenError           the API refused the token (expired, revoked, unknown)
├── ApiError             the API failed or answered something unexpected
└── ItemError            one file could not be fetched (the others go on)
    ├── ChecksumMismatch the bytes did not hash to the published SHA-256
    └── NotFoundError    the API answered 404 (e.g. a master without a proxy)
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every sync failure."""


class ConfigError(SyncError):
    """The config file is missing, malformed or incomplete."""


class DestinationError(SyncError):
    """The destination folder cannot be used."""


class LockedError(SyncError):
    """Another sync holds the destination's lock."""


class TokenError(SyncError):
    """The API refused our token."""


class ApiError(SyncError):
    """The API failed or answered unexpectedly."""


class ItemError(SyncError):
    """One file could not be synced."""


class ChecksumMismatch(ItemError):
    """Downloaded bytes do not match the published SHA-256."""


class NotFoundError(ItemError):
    """The API has no such thing (a 404), e.g. a rendition the master does not have."""
