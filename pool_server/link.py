"""Is the control connection still there to hear a 226, or is an ABOR waiting on it?

The IO loop handles the data and control sockets in whatever order `poll` reports them, so
a data connection's end can be handled before an ABOR (or the client's disconnect) that
arrived first on the control connection. Before an upload is declared complete the data
channel asks here, without consuming anything: the control channel still reads the ABOR
itself and answers it. An ABOR is seen in plain FTP only (and in what pyftpdlib has already
read); over TLS the bytes are encrypted, so only a closed connection is seen.

So on a TLS control connection an ABOR racing the data connection's end cannot be seen
early: peeking with `SSL_peek` would move the record into OpenSSL's buffer, where `poll`
no longer reports the socket readable and the control channel would stall. If the data end
is handled first, the upload completes (226) and the ABOR then gets 225 (no transfer);
the file is complete and can be continued or replaced, and the settle window keeps it from
the catalog meanwhile. The README's upload section says this to operators.
"""

from __future__ import annotations

import enum
import os
import select
import socket
from typing import Any

from OpenSSL import SSL

_PEEK_BYTES = 4096
# POLLRDHUP (Linux): the peer shut down its sending side.
_HANGUP = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)


class ControlState(enum.Enum):
    """What the control connection says about a transfer that just ended."""

    ALIVE = "alive"
    GONE = "gone"
    ABORTING = "aborting"


def control_state(channel: Any) -> ControlState:
    """Look at the control connection without reading from it."""
    sock = getattr(channel, "socket", None)
    if sock is None or getattr(channel, "_closed", False) or not channel.connected:
        return ControlState.GONE
    buffered = b"".join(getattr(channel, "_in_buffer", [])) + bytes(
        getattr(channel, "ac_in_buffer", b"")
    )
    try:
        fd = sock.fileno()
    except (OSError, SSL.Error):
        return ControlState.GONE
    peeked, ended = _peek(sock)
    if _has_abor(buffered + peeked):
        return ControlState.ABORTING
    if ended or _hung_up(fd):
        return ControlState.GONE
    return ControlState.ALIVE


def _peek(sock: Any) -> tuple[bytes, bool]:
    """Bytes waiting in the kernel for the connection, and whether it has ended.

    Over TLS only the end can be seen: the bytes are encrypted, and `SSL_peek` would pull
    them into OpenSSL's buffer, where the IO loop no longer sees the socket as readable.
    """
    tls = isinstance(sock, SSL.Connection)
    try:
        with socket.socket(fileno=os.dup(sock.fileno())) as raw:
            data = raw.recv(_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return b"", False
    except ConnectionError:
        return b"", True
    except OSError:
        return b"", False
    return (b"" if tls else data), not data


def _hung_up(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | _HANGUP)
    return any(events & _HANGUP for _, events in poller.poll(0))


def _has_abor(data: bytes) -> bool:
    # Clients may send Telnet IP/Synch (IAC IP IAC DM) before ABOR; look at each line's end.
    return any(
        line.strip(b"\xff\xf4\xf2\x00 \t").upper() == b"ABOR" for line in data.split(b"\r\n")
    )
