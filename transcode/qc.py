"""The QC verdict: measurements against the delivery rules in settings, in plain sentences.

loudness outside target ± tolerance, true peak above the ceiling,
no programme audio, picture black or mix silent throughout          -> fail
an audio track no decoder knows (named with its codec tag)          -> warn; fail when
                                                                       no track decodes
black or silence longer than the threshold at head or tail          -> warn (setting)
decoder errors while reading a master that still decoded to the end -> warn
a source audio track silent throughout (left out of the mix)        -> warn
HD interlaced bottom field first (HD is top field first)            -> warn

Every finding names where it is: the track(s), and the master's own timecode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pool_core.models import QcVerdict
from pool_core.settings import Settings
from transcode.measure import Interval, Measurements
from transcode.probe import MediaInfo
from transcode.programmes import programme_note
from transcode.timecode import timecode_at

# EBU R128's gate floor: a programme measuring this low has no audible sound.
SILENT_LUFS = -69.0
# A source track whose sample peak stays below this is silent (no programme on it).
SILENT_TRACK_DB = -60.0
# Share of the duration that makes black or silence "throughout" rather than at the ends.
THROUGHOUT = 0.95


@dataclass(frozen=True)
class Finding:
    """One QC observation a person can act on."""

    check: str
    severity: QcVerdict
    message: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form for `Asset.qc`."""
        return {"check": self.check, "severity": self.severity.value, "message": self.message}


def silent_tracks(measured: Measurements) -> set[int]:
    """The 1-based numbers of source tracks whose peak stayed below the silence floor."""
    return {track for track, peak in measured.track_peaks.items() if peak < SILENT_TRACK_DB}


def evaluate(
    measured: Measurements,
    *,
    media: MediaInfo,
    settings: Settings,
    audio_description: str | None,
    mix_tracks: tuple[int, ...] = (),
) -> tuple[QcVerdict, list[Finding]]:
    """Judge one master; return the verdict and every finding behind it."""
    findings: list[Finding] = []
    duration = media.duration
    whole = f"{_tc(media, 0)}-{_tc(media, duration)}"
    noun = "track" if len(mix_tracks) == 1 else "tracks"
    mix = "programme mix" + (f" ({noun} {'+'.join(map(str, mix_tracks))})" if mix_tracks else "")
    undecodable = [t for t in media.audio if t.get("undecodable")]
    if audio_description is None and not undecodable:
        findings.append(
            Finding("audio", QcVerdict.FAIL, f"The master has no audio track ({whole}).")
        )
    elif audio_description is not None:
        findings += _loudness(measured, settings, mix, whole, media)
    findings += _undecodable(undecodable, whole, mixed=audio_description is not None)
    note = programme_note(media)
    if note:
        # A note, not a problem: PASS severity leaves the verdict alone.
        findings.append(Finding("programme", QcVerdict.PASS, note))
    findings += _silent_tracks(measured, media, mix_tracks, whole)
    findings += _field_order(media)
    findings += _edges("black", "picture is black", measured.black, duration, media, settings)
    if audio_description is not None:
        findings += _edges(
            "silence", f"{mix} is silent", measured.silence, duration, media, settings
        )
    if measured.decode_errors:
        findings.append(
            Finding(
                "decoding",
                QcVerdict.WARN,
                f"The decoder reported {measured.decode_errors} error(s) while reading the "
                "master; parts of the picture or sound may be damaged.",
            )
        )
    verdict = QcVerdict.PASS
    if any(f.severity is QcVerdict.FAIL for f in findings):
        verdict = QcVerdict.FAIL
    elif any(f.severity is QcVerdict.WARN for f in findings):
        verdict = QcVerdict.WARN
    return verdict, findings


def _silent_tracks(
    measured: Measurements, media: MediaInfo, mix_tracks: tuple[int, ...], whole: str
) -> list[Finding]:
    findings = []
    by_number = {int(t.get("track") or 0): t for t in media.audio}
    for number in sorted(silent_tracks(measured)):
        track = by_number.get(number, {})
        used = "it is in the programme mix" if number in mix_tracks else "the mix leaves it out"
        findings.append(
            Finding(
                "silent_track",
                QcVerdict.WARN,
                f"Audio track {number} ({_kind(track)}) is silent throughout ({whole}, peak below "
                f"{SILENT_TRACK_DB:g} dBFS); {used}.",
            )
        )
    return findings


def _undecodable(tracks: list[dict[str, Any]], whole: str, *, mixed: bool) -> list[Finding]:
    # Without any decodable track the proxy has no sound at all: that fails, as no audio does.
    severity, result = (
        (QcVerdict.WARN, "the mix leaves it out")
        if mixed
        else (QcVerdict.FAIL, "the proxy has no programme audio")
    )
    return [
        Finding(
            "audio_codec",
            severity,
            f"Audio track {track.get('track')} ({track.get('codec_named') or 'unknown codec'}) "
            f"cannot be decoded by the bundled ffmpeg ({whole}); {result}.",
        )
        for track in tracks
    ]


def _kind(track: dict[str, Any]) -> str:
    parts = [f"{track.get('channels', '?')} ch", str(track.get("codec") or "")]
    return ", ".join(part for part in parts if part)


def _field_order(media: MediaInfo) -> list[Finding]:
    video = media.video or {}
    if (
        media.interlaced
        and int(video.get("height") or 0) >= 720
        and video.get("field_order") == "bff"
    ):
        return [
            Finding(
                "field_order",
                QcVerdict.WARN,
                f"The video track ({video.get('height')}-line interlaced) is bottom field "
                f"first from {_tc(media, 0)}; HD interlaced is top field first. The proxy "
                "follows the stream's order.",
            )
        ]
    return []


def _loudness(
    measured: Measurements, settings: Settings, mix: str, whole: str, media: MediaInfo
) -> list[Finding]:
    findings: list[Finding] = []
    target, tolerance = settings.qc_loudness_target, settings.qc_loudness_tolerance
    integrated = measured.integrated_lufs
    if integrated is None:
        findings.append(
            Finding(
                "loudness",
                QcVerdict.WARN,
                f"Integrated loudness of the {mix} could not be measured ({whole}).",
            )
        )
    elif integrated <= SILENT_LUFS:
        findings.append(
            Finding("loudness", QcVerdict.FAIL, f"The {mix} is silent (below -70 LUFS, {whole}).")
        )
        return findings
    elif abs(integrated - target) > tolerance:
        direction = "too loud" if integrated > target else "too quiet"
        findings.append(
            Finding(
                "loudness",
                QcVerdict.FAIL,
                f"Integrated loudness of the {mix} is {integrated:.1f} LUFS ({whole}), "
                f"{abs(integrated - target):.1f} LU {direction}; the target is "
                f"{target:.1f} ± {tolerance:.1f} LUFS (EBU R128).",
            )
        )
    peak = measured.true_peak_dbtp
    if peak is not None and peak > settings.qc_true_peak_max:
        # The highest peak's 100 ms window; the whole span only if the frame log was missing.
        at = whole if measured.true_peak_at is None else f"at {_tc(media, measured.true_peak_at)}"
        findings.append(
            Finding(
                "true_peak",
                QcVerdict.FAIL,
                f"True peak of the {mix} reaches {peak:.1f} dBTP ({at}); the ceiling is "
                f"{settings.qc_true_peak_max:.1f} dBTP.",
            )
        )
    return findings


def _edges(
    check: str,
    what: str,
    intervals: list[Interval],
    duration: float,
    media: MediaInfo,
    settings: Settings,
) -> list[Finding]:
    limit = settings.qc_max_black_seconds if check == "black" else settings.qc_max_silence_seconds
    severity = QcVerdict(settings.qc_head_tail_severity)
    # Detectors stamp the last frame's start, not the file's end: allow two frames of slack.
    slack = 2 / float(media.frame_rate) + 0.05
    findings: list[Finding] = []
    for interval in intervals:
        if duration > 0 and interval.duration >= THROUGHOUT * duration:
            return [
                Finding(
                    check,
                    QcVerdict.FAIL,
                    f"The {what} throughout ({_tc(media, 0)}-{_tc(media, duration)}).",
                )
            ]
        at_head = interval.start <= slack
        at_tail = duration > 0 and interval.end >= duration - slack
        if interval.duration <= limit or not (at_head or at_tail):
            continue
        where = "head" if at_head else "tail"
        # A tail lasts to the end of the file, past the last frame's start the detector gave.
        end = duration if at_tail and not at_head else interval.end
        findings.append(
            Finding(
                check,
                severity,
                f"The {what} for {end - interval.start:.1f} s at the {where} "
                f"({_tc(media, interval.start)}-{_tc(media, end)}); at most "
                f"{limit:g} s is allowed.",
            )
        )
    return findings


def _tc(media: MediaInfo, seconds: float) -> str:
    return timecode_at(media.timecode, media.frame_rate, seconds)
