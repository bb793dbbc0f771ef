"""Turning sidecar bytes into text, with errors people can act on."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from pool_core.errors import InvalidInput
from pool_core.sidecars.legacy import equivalents, guess_legacy

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
        raise SidecarError(filename, [_not_utf8(data, exc.start)]) from exc
    return _no_nul(filename, text)


@dataclass(frozen=True)
class DecodedText:
    """Text read from a sidecar, the encoding it was read as, and how that was decided."""

    text: str
    encoding: str
    how: str

    @property
    def legacy(self) -> bool:
        """True when a legacy code page was guessed (not UTF-8 or UTF-16)."""
        return not self.encoding.startswith("UTF-")


def decode_legacy_text(filename: str, data: bytes, *, country: str = "") -> DecodedText:
    """Decode Unicode or a legacy code page (see `legacy`); refuse a file that is ambiguous."""
    check_size(filename, data)
    if data.startswith(codecs.BOM_UTF8):
        return DecodedText(
            _strict(filename, data, "utf-8-sig", "UTF-8"), "UTF-8", "byte order mark"
        )
    for bom, codec, name in (
        (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE"),
    ):
        if data.startswith(bom):
            text = _strict(filename, data[len(bom) :], codec, name)
            return DecodedText(text, name, "byte order mark")
    unmarked = _unmarked_utf16(data)
    if unmarked is not None:
        text = _strict(filename, data, unmarked.lower(), unmarked)
        return DecodedText(text, unmarked, "detected (no byte order mark)")
    try:
        return DecodedText(_no_nul(filename, data.decode("utf-8")), "UTF-8", "detected")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    guess = guess_legacy(data, country=country)
    if guess.codec is None:
        readings = ", ".join(guess.candidates) or "none of the accepted code pages"
        raise SidecarError(
            filename,
            [
                _not_utf8(
                    data,
                    first_bad,
                    f", and its code page cannot be told for certain (it reads differently "
                    f"as {readings})",
                )
            ],
        )
    same = equivalents(data, guess.codec)
    how = guess.how + (f"; {', '.join(same)} read it the same" if same else "")
    return DecodedText(_no_nul(filename, guess.text), guess.label, how)


def _unmarked_utf16(data: bytes) -> str | None:
    """UTF-16 without a byte order mark, told by where the zero bytes are."""
    # Delimiters, digits and line ends are ASCII, so their high byte is zero on one side.
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2].count(0), data[1::2].count(0)
    pairs = len(data) // 2
    if odd >= pairs // 4 and even == 0:
        return "UTF-16LE"
    if even >= pairs // 4 and odd == 0:
        return "UTF-16BE"
    return None


def _strict(filename: str, data: bytes, codec: str, name: str) -> str:
    try:
        return _no_nul(filename, data.decode(codec))
    except UnicodeDecodeError as exc:
        raise SidecarError(filename, [f"the {name} text is damaged: {exc.reason}"]) from exc


def _not_utf8(data: bytes, start: int, why: str = "") -> str:
    line = data[:start].count(b"\n") + 1
    column = start - (data.rfind(b"\n", 0, start) + 1) + 1
    return (
        f"the file is not UTF-8: byte 0x{data[start]:02X} at line {line}, column "
        f"{column} cannot be read (was it saved as Windows-1251, Latin-1 or another "
        f"legacy code page?){why}; save it as UTF-8"
    )


def _no_nul(filename: str, text: str) -> str:
    if "\x00" in text:
        raise SidecarError(filename, ["the file contains NUL characters; is it really text?"])
    return text
