"""Field order as probed from the stream, and the field the proxy takes from it.

A bottom-field-first MPEG-2 in MXF is stored as AV_FIELD_TB ("top coded first (swapped)":
the bottom field is displayed first); in MPEG-TS the same pictures read AV_FIELD_BB. Both
are "bff", and the field deinterlacer must then take the bottom field (the earlier instant).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pool_core.settings import Settings
from transcode.pipeline import build_plan
from transcode.probe import probe

SETTINGS = Settings(s3_endpoint="")


def make_interlaced(ffmpeg_path: str, path: Path, *, order: str, wrapper: str) -> Path:
    """Three frames of 1080i MPEG-2 4:2:2 whose pictures say `order` (tff or bff)."""
    subprocess.run(
        [ffmpeg_path, "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=25:d=0.12", "-vf", f"setfield={order}",
         "-c:v", "mpeg2video", "-pix_fmt", "yuv422p", "-b:v", "50M", "-flags", "+ildct+ilme",
         "-field_order", "tt" if order == "tff" else "bb", "-f", wrapper, str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path


@pytest.mark.parametrize("wrapper", ["mxf", "mpegts"])
@pytest.mark.parametrize(("order", "field"), [("tff", "top"), ("bff", "bottom")])
def test_field_order_is_read_from_the_stream_and_steers_the_field_taken(
    ffmpeg_path: str, tmp_path: Path, wrapper: str, order: str, field: str
) -> None:
    master = make_interlaced(ffmpeg_path, tmp_path / f"master.{wrapper}", order=order,
                             wrapper=wrapper)  # fmt: skip
    media = probe(str(master))
    assert media.video is not None
    assert (media.video["scan_type"], media.video["field_order"]) == ("interlaced", order)

    workdir = tmp_path / "work"
    workdir.mkdir()
    plan = build_plan(
        ffmpeg_path=ffmpeg_path,
        source=str(master),
        media=media,
        settings=SETTINGS,
        workdir=workdir,
        font="/fonts/DejaVuSans.ttf",
        watermark="PREVIEW",
    )
    # 1080i to a 540p top rung: one field, the one displayed first.
    assert plan.deinterlace == "field"
    graph = plan.args[plan.args.index("-filter_complex") + 1]
    assert f"field=type={field}" in graph
