"""The worker's /metrics after real transcodes: job results, QC, realtime factor, pool gauges."""

from __future__ import annotations

from pathlib import Path

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import requires_tool
from tests.fixtures.media import MediaFactory
from tests.ops.scrape import ops_server, promtool_check, scrape, stamp_head
from tests.transcode.helpers import make_asset, owner_org_id
from transcode.worker import build_runner


@requires_tool("promtool")
def test_transcode_and_a_broken_master_move_the_worker_counters(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    media: MediaFactory,
    tmp_path: Path,
) -> None:
    stamp_head(database)
    (tmp_path / "scratch").mkdir()
    tc_settings = storage_settings.model_copy(update={"transcode_tmp_dir": tmp_path / "scratch"})
    good = make_asset(database, storage, media.path("h264_stereo_mp4"), enqueue=True)
    make_asset(database, storage, media.path("not_media.mxf"), enqueue=True)
    runner = build_runner(tc_settings, database, storage, poll_interval=0.1, backoff_seconds=0.1)
    with ops_server(tc_settings, database, pool_gauges=True) as ops:
        before = scrape(ops.url)
        assert before.value("jointpool_queue_jobs", kind="transcode", state="queued") == 2
        assert before.value("jointpool_queue_oldest_waiting_seconds") >= 0
        assert runner.run_until_idle() == 2
        after = scrape(ops.url)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("jointpool_jobs_total", kind="transcode", result="done") == 1
    assert delta("jointpool_jobs_total", kind="transcode", result="failed") == 1
    assert delta("jointpool_job_duration_seconds_count", kind="transcode", result="done") == 1
    assert delta("jointpool_job_attempts_count", kind="transcode") == 2
    assert delta("jointpool_job_attempts_sum", kind="transcode") == 2  # one attempt each
    assert delta("jointpool_transcode_realtime_factor_count") == 1
    assert (
        after.total("jointpool_qc_verdicts_total") - before.total("jointpool_qc_verdicts_total")
        == 1
    )
    assert delta("jointpool_ffmpeg_failures_total", reason="undecodable") == 1
    # Pool-wide gauges (this node is the one computing them; the cache is 10 s, so the
    # scrape before the jobs ran may still be served: only facts true at both are checked).
    org = _org_code(database)
    assert after.value("jointpool_storage_bytes", org=org, kind="masters") > 0
    assert after.has("jointpool_licenses")
    assert after.has("jointpool_webhook_deliveries_failed")
    assert good
    promtool_check(after.text)


def _org_code(database: Database) -> str:
    from pool_core.models import Organization

    with database.session() as session:
        org = session.get(Organization, owner_org_id(database))
        assert org is not None
        return org.code
