"""Replies as RFC 959/3659 clients expect them, where pyftpdlib's own differ.

pyftpdlib answers `MLSD` of a missing folder with 501; RFC 3659 (7.2.1) keeps 501 for a
path that is not a folder and wants 550 for one that does not exist. rclone creates a
folder only after a 550, so with 501 it could not upload into a new folder at all. `MKD`
of an existing folder gets the 550 RFC 959 lists for MKD (see `replies.COMMAND_CODES`).
"""

from __future__ import annotations

from typing import Any

from pyftpdlib.handlers import TLS_FTPHandler

from pool_core.errors import AlreadyExists
from pool_server.replies import reply_for

# The facts `format_mlsx` can give; pyftpdlib would also offer unix.mode/uid/gid, which a
# virtual tree does not have.
MLSX_FACTS = ["type", "perm", "size", "modify", "unique"]


class StandardReplies(TLS_FTPHandler):  # type: ignore[misc]
    """MLSD, MKD and the MLST fact set, with the reply codes of the RFCs."""

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        super().__init__(conn, server, ioloop)
        self._current_facts = list(MLSX_FACTS)
        self._available_facts = list(MLSX_FACTS)

    def ftp_MLSD(self, path: str) -> str | None:
        """List a folder's facts: 550 if it does not exist, 501 if it is a file."""
        # stat raises NotFound for a missing path, which the reply table answers with 550.
        if not self.fs.stat(path).is_dir:
            self.respond("501 Not a directory.")
            return None
        result: str | None = super().ftp_MLSD(path)
        return result

    def ftp_MKD(self, path: str) -> str | None:
        """Create a folder; one that exists already is a 550."""
        try:
            result: str | None = super().ftp_MKD(path)
        except AlreadyExists as exc:
            self.respond(reply_for(exc, "MKD"))
            return None
        return result
