"""Structured logging: one line per event, `key=value` pairs after the message.

Values (and the message) can carry what a client sent (an FTP user name, a path), so they are
written so that no value can forge a field or a line: a value made only of safe characters is
written bare; any other is quoted, with `\\`, `"` and every non-printable character escaped
(`\\n`, `\\u2028`, ...). A message containing `=` or `"` is quoted the same way, and the lines
of a traceback are indented, so every line that starts with a timestamp is one record.
`parse_line` reads a line back (tests, tools).

With `JOINTPOOL_LOG_FORMAT=json` each record is instead one JSON object per line (`time`,
`level`, `component`, `logger`, `message`, every field, and `traceback` when there is one);
JSON's own escaping keeps a record on one line. Either way the correlation ids bound in
`pool_core.tracing` (request, FTP session, upload) are fields of every line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from pool_core.tracing import TraceFilter

# LogRecord attributes that are not user-supplied `extra=` fields (uvicorn adds a coloured
# copy of its message as `color_message`; printing it twice helps no one).
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}

# Alembic announces its plugins and its dialect on every command; only the upgrade steps
# themselves say something a person acts on.
_PLUMBING_LOGGERS = ("alembic",)
_PLUMBING_KEPT = ("Running upgrade", "Running downgrade")


class KeyValueFormatter(logging.Formatter):
    """`2026-11-26T09:00:00Z INFO ftp pool_server.auth: login ok user=aztv-ops ip=127.0.0.1`."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        extras = " ".join(
            f"{key}={_quote(value)}"
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        )
        message = _message(record.getMessage())
        line = f"{stamp} {record.levelname} {self.component} {record.name}: {message}"
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line = f"{line}\n" + "\n".join(f"    {part}" for part in trace.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    """`{"time": "2026-11-26T09:00:00.123Z", "level": "INFO", "logger": ..., "message": ...}`."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "component": self.component,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        text = json.dumps(entry, ensure_ascii=False, default=str)
        # JSON leaves these unescaped, but they end a line for Python's splitlines() and
        # some log shippers; inside JSON they can only be in strings, where \uXXXX is valid.
        for char in _JSON_LINE_BREAKS:
            text = text.replace(char, f"\\u{ord(char):04x}")
        return text


# Line terminators (other than the ones JSON escapes) that non-ASCII output would leave raw.
_JSON_LINE_BREAKS = ("\x85", "\u2028", "\u2029")


# Characters a bare value may hold: nothing that separates fields, quotes or ends a line.
_BARE = re.compile(r"[A-Za-z0-9_.,:;/@+%~#()\[\]{}<>!?*&^$|'-]+")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif not char.isprintable():
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def _quote(value: Any) -> str:
    text = str(value)
    return text if _BARE.fullmatch(text) else f'"{_escape(text)}"'


def _message(text: str) -> str:
    if "=" in text or '"' in text or not text.isprintable():
        return f'"{_escape(text)}"'
    return text


_HEAD = re.compile(r"^(\S+) (\S+) (\S+) (\S+): ")
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_FIELD = re.compile(rf" (\w+)=({_QUOTED}|[^\s\"]+)")
_UNESCAPE = re.compile(r"\\(u[0-9a-f]{4}|U[0-9a-f]{8}|.)")
_UNESCAPED = {"n": "\n", "r": "\r", "t": "\t"}


def _unquote(token: str) -> str:
    if not token.startswith('"'):
        return token

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "uU" and len(code) > 1:
            return chr(int(code[1:], 16))
        return _UNESCAPED.get(code, code)

    return _UNESCAPE.sub(one, token[1:-1])


def parse_line(line: str) -> tuple[str, dict[str, str]]:
    """Read one formatted record back: its message and its fields (values unescaped)."""
    head = _HEAD.match(line)
    if head is None:
        raise ValueError(f"not a log record: {line!r}")
    rest = line[head.end() :]
    quoted = re.match(_QUOTED, rest) if rest.startswith('"') else None
    if quoted is not None:
        message, rest = _unquote(quoted.group(0)), rest[quoted.end() :]
    else:
        first = re.search(r" \w+=", rest)
        cut = first.start() if first else len(rest)
        message, rest = rest[:cut], rest[cut:]
    fields: dict[str, str] = {}
    position = 0
    while position < len(rest):
        field = _FIELD.match(rest, position)
        if field is None:
            raise ValueError(f"unreadable fields in log record: {rest[position:]!r}")
        fields[field.group(1)] = _unquote(field.group(2))
        position = field.end()
    return message, fields


class DemotePlumbing(logging.Filter):
    """Turn third-party INFO chatter into DEBUG, dropping it below the handler's level."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote a plumbing record; keep it only if DEBUG is shown."""
        if record.levelno != logging.INFO or not _is_plumbing(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.level <= logging.DEBUG


def _is_plumbing(record: logging.LogRecord) -> bool:
    if not record.name.startswith(_PLUMBING_LOGGERS):
        return False
    return not record.getMessage().startswith(_PLUMBING_KEPT)


def configure_logging(*, level: str, component: str, log_format: str = "text") -> None:
    """Send every log record to stderr as one structured line (`text` or `json`)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter if log_format == "json" else KeyValueFormatter
    handler.setFormatter(formatter(component))
    handler.addFilter(TraceFilter())
    handler.addFilter(DemotePlumbing(logging.getLevelName(level.upper())))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter that would drown the pool's own lines at INFO.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "pyftpdlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
