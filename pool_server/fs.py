"""The virtual filesystem of one FTP session: the organization's tree in the database.

No method touches the OS filesystem. Paths handed around are normalised virtual paths
(`/incoming/ep01.mxf`); `ftp2fs` is where every client-supplied name is checked, so a
hostile name fails before any command runs (with the 553 of the reply table).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Iterator
from typing import Any

from pyftpdlib.filesystems import AbstractedFS

from pool_core.errors import NotFound, PermissionDenied
from pool_core.files import tree
from pool_core.files.views import FileView
from pool_core.models import FileState
from pool_core.names import INCOMING_ROOT, resolve_path, split_path
from pool_server.context import FtpSession
from pool_server.units import writing

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SIX_MONTHS = 180 * 24 * 3600


class PoolFilesystem(AbstractedFS):  # type: ignore[misc]
    """pyftpdlib's filesystem contract, answered by `pool_core.files.tree`."""

    def __init__(self, root: str, cmd_channel: FtpSession) -> None:
        super().__init__("/", cmd_channel)
        self.handler = cmd_channel
        # name -> view of the folder listed last, so LIST/MLSD cost one query, not one per entry.
        self._listed: tuple[str, dict[str, FileView]] | None = None

    # --- plumbing

    @property
    def org_id(self) -> int:
        """The organization whose tree this is."""
        principal = self.handler.principal
        assert principal is not None, "filesystem used before login"
        return principal.org_id

    def _view(self, path: str) -> FileView:
        if self._listed is not None:
            folder, views = self._listed
            parent, name = split_path(path)
            if parent == folder and name in views:
                return views[name]
        with self.handler.pool.db.session() as session:
            return tree.stat(session, org_id=self.org_id, path=path)

    def forget_listing(self) -> None:
        """Drop the views of the last listing (before any command that may change the tree)."""
        self._listed = None

    # --- path translation: the virtual path is the "filesystem" path

    def ftp2fs(self, ftppath: str) -> str:
        """Normalise a client path against the cwd; hostile names raise InvalidInput."""
        return resolve_path(self.cwd, ftppath)

    def fs2ftp(self, fspath: str) -> str:
        """Virtual paths are shown as they are."""
        return fspath

    def validpath(self, path: str) -> bool:
        """Every normalised virtual path is inside the organization's tree."""
        return True

    def realpath(self, path: str) -> str:
        """There are no links."""
        return path

    # --- queries

    def stat(self, path: str) -> FileView:
        """Describe a path (NotFound when it does not exist)."""
        return self._view(path)

    lstat = stat

    def exists(self, path: str) -> bool:
        """Whether the path names a file or folder."""
        try:
            self._view(path)
        except NotFound:
            return False
        return True

    lexists = exists

    def isfile(self, path: str) -> bool:
        """Whether the path names a file."""
        try:
            return not self._view(path).is_dir
        except NotFound:
            return False

    def isdir(self, path: str) -> bool:
        """Whether the path names a folder."""
        try:
            return self._view(path).is_dir
        except NotFound:
            return False

    def islink(self, path: str) -> bool:
        """The virtual tree has no links."""
        return False

    def getsize(self, path: str) -> int:
        """Size in bytes of a file (a folder has none: RFC 3659 SIZE answers it with 550)."""
        view = self._view(path)
        if view.is_dir:
            raise NotFound(f"{path} is a folder, not a file")
        return view.size

    def getmtime(self, path: str) -> float:
        """Modification time as a POSIX timestamp."""
        return self._view(path).mtime.timestamp()

    def listdir(self, path: str) -> list[str]:
        """Names in a folder (remembering their views for the listing that follows)."""
        with self.handler.pool.db.session() as session:
            views = tree.list_dir(session, org_id=self.org_id, path=path)
        self._listed = (path, {view.name: view for view in views})
        return [view.name for view in views]

    # --- changes

    def chdir(self, path: str) -> None:
        """Enter a folder."""
        if not self._view(path).is_dir:
            raise NotFound(f"{path} is not a folder")
        self.cwd = path

    def mkdir(self, path: str) -> None:
        """Create a folder."""
        self.forget_listing()
        with writing(self.handler.pool.db) as session:
            tree.make_dir(session, org_id=self.org_id, path=path)

    def rmdir(self, path: str) -> None:
        """Remove an empty folder."""
        self.forget_listing()
        with writing(self.handler.pool.db) as session:
            tree.remove_dir(session, org_id=self.org_id, path=path)

    def remove(self, path: str) -> None:
        """Delete a file."""
        self.forget_listing()
        with writing(self.handler.pool.db) as session:
            tree.delete_file(session, org_id=self.org_id, path=path)

    def rename(self, src: str, dst: str) -> None:
        """Move or rename a file or folder (folders with everything in them) atomically."""
        self.forget_listing()
        with writing(self.handler.pool.db) as session:
            tree.rename(session, org_id=self.org_id, source=src, target=dst)

    def utime(self, path: str, timeval: float) -> None:
        """Set a file's modification time (MFMT)."""
        self.forget_listing()
        mtime = datetime.datetime.fromtimestamp(timeval, datetime.UTC)
        with writing(self.handler.pool.db) as session:
            tree.set_mtime(session, org_id=self.org_id, path=path, mtime=mtime)

    def chmod(self, path: str, mode: int) -> None:
        """Modes do not exist in the virtual tree."""
        raise PermissionDenied("SITE CHMOD is not supported")

    def open(self, filename: str, mode: str) -> Any:
        """Transfers go through the handler's STOR/APPE/RETR, never through here."""
        raise PermissionDenied("not supported")

    def mkstemp(self, *args: Any, **kwargs: Any) -> Any:
        """STOU is not offered."""
        raise PermissionDenied("STOU is not supported")

    # --- listings

    def _views_for(
        self, basedir: str, listing: Iterable[str], ignore_err: bool = True
    ) -> Iterator[FileView]:
        for name in listing:
            path = basedir.rstrip("/") + "/" + name if name else basedir
            try:
                yield self._view(path)
            except NotFound:
                if not ignore_err:
                    raise  # MLST of a missing path: the handler answers 550
                continue  # removed between the listing and the formatting

    def format_list(
        self, basedir: str, listing: list[str], ignore_err: bool = True
    ) -> Iterator[bytes]:
        """`ls -l`-style lines, as clients expect from LIST."""
        now = time.time()
        encoding = self.handler.encoding
        for view in self._views_for(basedir, listing):
            mtime = view.mtime.timestamp()
            stamp = time.gmtime(mtime)
            clock = time.strftime("%d  %Y" if now - mtime > SIX_MONTHS else "%d %H:%M", stamp)
            mode = (
                ("dr-xr-xr-x" if view.is_dir else "-r--r--r--")
                if _read_only(view)
                else ("drwxrwxr-x" if view.is_dir else "-rw-rw-r--")
            )
            line = (
                f"{mode}   1 pool     pool     {view.size:>12} "
                f"{_MONTHS[stamp.tm_mon - 1]} {clock} {view.name}\r\n"
            )
            yield line.encode(encoding, "strict")

    def format_mlsx(
        self,
        basedir: str,
        listing: list[str],
        perms: str,
        facts: list[str],
        ignore_err: bool = True,
    ) -> Iterator[bytes]:
        """RFC 3659 fact lines for MLSD and MLST."""
        encoding = self.handler.encoding
        for view in self._views_for(basedir, listing, ignore_err):
            values: dict[str, str] = {}
            if "type" in facts:
                values["type"] = "dir" if view.is_dir else "file"
            if "size" in facts:
                values["size"] = str(view.size)
            if "modify" in facts:
                values["modify"] = time.strftime("%Y%m%d%H%M%S", view.mtime.utctimetuple())
            if "perm" in facts:
                values["perm"] = _perm_fact(view)
            if "unique" in facts:
                values["unique"] = view.unique
            text = "".join(f"{key}={value};" for key, value in values.items())
            yield f"{text} {view.name}\r\n".encode(encoding, "strict")


def _read_only(view: FileView) -> bool:
    return not view.writable


def _perm_fact(view: FileView) -> str:
    # RFC 3659 7.5.5. `/incoming` takes new files and folders but cannot itself be deleted
    # or renamed (no d, f); below it everything may change; `/` and `/licensed` only read.
    if view.is_dir:
        if _read_only(view):
            return "el"
        return "elcmp" if view.path == INCOMING_ROOT else "elcmfdp"
    if _read_only(view):
        return "r"
    # A pending upload is appended to (APPE, REST+STOR), not read, until it is complete.
    return "adfrw" if view.state == FileState.COMPLETE else "adfw"
