"""The proxy of a truly interlaced master (two instants per frame) shows no combing.

The fixture master is progressive content flagged interlaced, so it cannot show combing;
this one is made from 50p motion woven into 25i fields, MPEG-2 4:2:2 with field DCT as XDCAM
writes it. "Combing" is measured as the mean second vertical difference of the luma (line
n against the average of n-1 and n+1): woven fields make every other line jump.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pool_core.settings import Settings
from transcode.pipeline import build_plan
from transcode.probe import probe
from transcode.process import run_ffmpeg
from transcode.tools import check_ffmpeg, find_font

SETTINGS = Settings(s3_endpoint="")
WIDTH, HEIGHT = 960, 540
FRAME = 1 / 25
# Measured on this source: one field scaled 0.88, the proxy ~1.1 (text overlays add edges),
# MPEG-2 `-lowres 1` (both fields' lines kept) 1.94.
COMB_LIMIT = 1.5


@pytest.fixture(scope="module")
def ffmpeg_path() -> str:
    return check_ffmpeg(SETTINGS).path


@pytest.fixture(scope="module")
def interlaced_master(ffmpeg_path: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interlaced") / "woven.mxf"
    subprocess.run(
        [ffmpeg_path, "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=50:d=2",
         "-vf", "tinterlace=mode=interleave_top,setfield=tff",
         "-c:v", "mpeg2video", "-pix_fmt", "yuv422p", "-b:v", "50M", "-minrate", "50M",
         "-maxrate", "50M", "-bufsize", "17825792", "-g", "12", "-bf", "2",
         "-flags", "+ildct+ilme", "-field_order", "tt", "-timecode", "10:00:00:00",
         "-f", "mxf", str(path)],
        check=True,
    )  # fmt: skip
    return path


def comb_score(ffmpeg_path: str, source: Path, *, decode: list[str] | None = None) -> float:
    """Mean |2*Y[n] - Y[n-1] - Y[n+1]| / 2 over every 10th 960x540 frame of the source."""
    scale = "null" if decode else f"scale={WIDTH}:{HEIGHT}"
    raw = subprocess.run(
        [ffmpeg_path, "-v", "error", "-nostdin", *(decode or []), "-i", str(source),
         "-vf", f"{scale},select=not(mod(n\\,10)),format=gray", "-fps_mode", "passthrough",
         "-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout  # fmt: skip
    size = WIDTH * HEIGHT
    frames = len(raw) // size
    assert frames >= 3
    total = 0
    for number in range(frames):
        picture = raw[number * size : (number + 1) * size]
        rows = [picture[y * WIDTH : (y + 1) * WIDTH] for y in range(HEIGHT)]
        for above, line, below in zip(rows, rows[1:], rows[2:], strict=False):
            total += sum(abs(2 * b - a - c) for a, b, c in zip(above, line, below, strict=True))
    return total / (2 * frames * (HEIGHT - 2) * WIDTH)


def test_interlaced_mpeg2_proxy_is_progressive_without_combing(
    ffmpeg_path: str, interlaced_master: Path, tmp_path: Path
) -> None:
    media = probe(str(interlaced_master))
    assert media.interlaced
    plan = build_plan(
        ffmpeg_path=ffmpeg_path,
        source=str(interlaced_master),
        media=media,
        settings=SETTINGS,
        workdir=tmp_path,
        font=find_font(SETTINGS),
        watermark="PREVIEW · Test TV · not for broadcast",
    )
    # Half-resolution MPEG-2 decoding would be cheaper but combs (see below): never used.
    assert "-lowres" not in plan.args
    run_ffmpeg(plan.args, log_path=plan.log_path, timeout=300)
    proxy_path = plan.proxy_path(plan.proxies[0])
    proxy = probe(str(proxy_path))
    assert proxy.video is not None
    assert (proxy.video["width"], proxy.video["height"]) == (WIDTH, HEIGHT)
    assert proxy.video["scan_type"] == "progressive"
    assert abs(proxy.duration - 2.0) <= 2 * FRAME

    combed = comb_score(ffmpeg_path, interlaced_master, decode=["-lowres", "1"])
    assert combed > COMB_LIMIT  # the measure does see woven fields
    assert comb_score(ffmpeg_path, proxy_path) < COMB_LIMIT
