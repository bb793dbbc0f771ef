"""The one table that maps domain errors to FTP replies.

Order matters: the first class an error is an instance of wins, so subclasses come before
their parents (ObjectNotFound is both a StorageError and a NotFound: it is a 550).
"""

from __future__ import annotations

from pool_core import errors

# (domain error, reply code, whether the text is safe to show the client as is)
REPLY_TABLE: tuple[tuple[type[BaseException], int, bool], ...] = (
    (errors.InvalidInput, 553, True),
    (errors.AlreadyExists, 553, True),
    (errors.ObjectNotFound, 550, False),
    (errors.NotFound, 550, True),
    (errors.PermissionDenied, 550, True),
    (errors.Conflict, 550, True),
    (errors.QuotaExceeded, 552, True),
    (errors.Busy, 451, True),
    (errors.StorageUnavailable, 451, False),
    (errors.StorageError, 451, False),
    (errors.AuthenticationFailed, 530, False),
)

# Where a command's RFC reply list lacks the table's code. RFC 959 gives MKD no 553, and
# clients read a 550 to MKD as "it is there already" (rclone creates parents concurrently
# and relies on it).
COMMAND_CODES: dict[tuple[str, type[BaseException]], int] = {
    ("MKD", errors.AlreadyExists): 550,
}

# What the client reads when the error text may carry internals (keys, endpoints).
GENERIC_TEXT = {
    550: "No such file or directory",
    451: "Storage temporarily unavailable; try again later (the upload can be resumed)",
    530: "Authentication failed",
}

# A REST offset the upload cannot continue from (RFC 1123: 554 for a bad REST position).
REST_REFUSED = 554


def reply_for(exc: BaseException, command: str | None = None) -> str:
    """Return the full FTP reply line (`code text.`) for a domain error (to a command)."""
    for cls, code, show_text in REPLY_TABLE:
        if isinstance(exc, cls):
            text = str(exc) if show_text and str(exc) else GENERIC_TEXT.get(code, "Failed")
            code = COMMAND_CODES.get((command or "", cls), code)
            return f"{code} {_sentence(text)}"
    return "451 Internal error; try again later"


def rest_refused(offset: int, exc: BaseException) -> str:
    """The reply to a REST offset an upload cannot honour."""
    return f"{REST_REFUSED} Cannot resume at byte {offset}: {_sentence(str(exc))}"


def _sentence(text: str) -> str:
    # Replies are single lines: a CR/LF from a message would let it forge a second reply.
    text = " ".join(text.split())
    return text if text.endswith(".") else text + "."
