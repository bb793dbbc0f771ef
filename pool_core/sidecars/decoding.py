"""Turning sidecar bytes into text, with errors people can act on."""

from __future__ import annotations

import codecs

from pool_core.errors import InvalidInput

# Sidecars are metadata, not media: anything larger is a mistake or an attack.
MAX_SIDECAR_BYTES = 2 * 1024 * 1024


class SidecarError(InvalidInput):
    """A sidecar was refused; `problems` lists each reason in plain words."""

    def __init__(self, filename: str, problems: list[str]) -> None:
        self.filename = filename
        self.problems = problems or ["unknown problem"]
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"sidecar {filename} was not accepted:\n{lines}")


def check_size(filename: str, data: bytes) -> None:
    """Refuse empty and oversized sidecars."""
    if not data.strip():
        raise SidecarError(filename, ["the file is empty"])
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(
            filename,
            [f"the file is {len(data)} bytes; sidecars may be at most {MAX_SIDECAR_BYTES}"],
        )


def decode_text(filename: str, data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16; refuse anything else clearly."""
    check_size(filename, data)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SidecarError(filename, [f"the UTF-16 text is damaged: {exc.reason}"]) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SidecarError(
            filename,
            [
                f"the file is not UTF-8: byte 0x{data[exc.start]:02X} at line {line}, column "
                f"{column} cannot be read (was it saved as Windows-1251, Latin-1 or another "
                "legacy code page?); save it as UTF-8"
            ],
        ) from exc
    if "\x00" in text:
        raise SidecarError(filename, ["the file contains NUL characters; is it really text?"])
    return text
