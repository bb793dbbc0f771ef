"""The QC verdict: measurements against the delivery rules in settings, in plain sentences.

loudness outside target ± tolerance, true peak above the ceiling,
no programme audio, picture black or mix silent throughout          -> fail
black or silence longer than the threshold at head or tail          -> warn (setting)
decoder errors while reading a master that still decoded to the end -> warn
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pool_core.models import QcVerdict
from pool_core.settings import Settings
from transcode.measure import Interval, Measurements
from transcode.probe import MediaInfo

# EBU R128's gate floor: a programme measuring this low has no audible sound.
SILENT_LUFS = -69.0
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


def evaluate(
    measured: Measurements, *, media: MediaInfo, settings: Settings, audio_description: str | None
) -> tuple[QcVerdict, list[Finding]]:
    """Judge one master; return the verdict and every finding behind it."""
    findings: list[Finding] = []
    duration = media.duration
    if audio_description is None:
        findings.append(Finding("audio", QcVerdict.FAIL, "The master has no audio track."))
    else:
        findings += _loudness(measured, settings)
    findings += _edges("black", "picture is black", measured.black, duration, media, settings)
    if audio_description is not None:
        findings += _edges(
            "silence", "programme mix is silent", measured.silence, duration, media, settings
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


def _loudness(measured: Measurements, settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    target, tolerance = settings.qc_loudness_target, settings.qc_loudness_tolerance
    integrated = measured.integrated_lufs
    if integrated is None:
        findings.append(
            Finding("loudness", QcVerdict.WARN, "Integrated loudness could not be measured.")
        )
    elif integrated <= SILENT_LUFS:
        findings.append(
            Finding("loudness", QcVerdict.FAIL, "The programme mix is silent (below -70 LUFS).")
        )
        return findings
    elif abs(integrated - target) > tolerance:
        direction = "too loud" if integrated > target else "too quiet"
        findings.append(
            Finding(
                "loudness",
                QcVerdict.FAIL,
                f"Integrated loudness is {integrated:.1f} LUFS, {abs(integrated - target):.1f} "
                f"LU {direction}; the target is {target:.1f} ± {tolerance:.1f} LUFS "
                "(EBU R128).",
            )
        )
    peak = measured.true_peak_dbtp
    if peak is not None and peak > settings.qc_true_peak_max:
        findings.append(
            Finding(
                "true_peak",
                QcVerdict.FAIL,
                f"True peak reaches {peak:.1f} dBTP; the ceiling is "
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
            return [Finding(check, QcVerdict.FAIL, f"The {what} throughout.")]
        at_head = interval.start <= slack
        at_tail = duration > 0 and interval.end >= duration - slack
        if interval.duration <= limit or not (at_head or at_tail):
            continue
        where = "head" if at_head else "tail"
        findings.append(
            Finding(
                check,
                severity,
                f"The {what} for {interval.duration:.1f} s at the {where} "
                f"({_clock(interval.start)}-{_clock(interval.end)}); at most {limit:g} s is "
                "allowed.",
            )
        )
    return findings


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:02d}:{minutes:02d}:{rest:05.2f}"
