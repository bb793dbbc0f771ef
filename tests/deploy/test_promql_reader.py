"""The contract check reads names out of PromQL and refuses what the contract lacks."""

from __future__ import annotations

from tests.deploy.metrics_contract import CONTRACT_SETTINGS, exposition_gaps, violations
from tests.deploy.promql import references


def test_reader_finds_series_matchers_and_grouping() -> None:
    found = references(
        "histogram_quantile(0.9, sum by (le, kind) "
        '(rate(jointpool_job_duration_seconds_bucket{result="done"}[$__rate_interval])))'
        " > max(jointpool_queue_jobs offset 15m) * 36"
    )
    assert found.metrics == {"jointpool_job_duration_seconds_bucket", "jointpool_queue_jobs"}
    assert [(m.label, m.op, m.value) for m in found.matchers] == [("result", "=", "done")]
    assert found.grouping_labels == {"le", "kind"}


def test_contract_expressions_pass() -> None:
    assert violations('sum by (result) (rate(jointpool_ftp_logins_total{result!="ok"}[5m]))') == []


def test_unknown_names_labels_and_values_are_reported() -> None:
    assert violations("rate(jointpool_ftp_login_total[5m])") == [
        "unknown series jointpool_ftp_login_total"
    ]
    assert violations("jointpool_ftp_upload_throughput_bytes_per_second") == [
        "unknown series jointpool_ftp_upload_throughput_bytes_per_second"
    ]
    assert violations('jointpool_queue_jobs{queue="transcode"}') == [
        "jointpool_queue_jobs has no label queue"
    ]
    assert violations('jointpool_queue_jobs{state="waiting"}') == [
        "jointpool_queue_jobs{state} is never 'waiting'"
    ]
    assert violations("sum by (org) (jointpool_licenses)") == [
        "grouping by org, which none of ['jointpool_licenses'] has"
    ]


def test_exposition_gaps_names_strangers_and_absentees() -> None:
    exposition = """\
# HELP jointpool_ftp_logins_total FTP logins by result.
# TYPE jointpool_ftp_logins_total counter
jointpool_ftp_logins_total{result="ok"} 3.0
jointpool_ftp_logins_created{result="ok"} 1.7e9
# HELP jointpool_job_duration_seconds Job duration.
# TYPE jointpool_job_duration_seconds histogram
jointpool_job_duration_seconds_bucket{kind="transcode",result="done",le="+Inf"} 1.0
jointpool_job_duration_seconds_count{kind="transcode",result="done"} 1.0
jointpool_job_duration_seconds_sum{kind="transcode",result="done"} 4.5
# TYPE jointpool_ftp_bans counter
# TYPE jointpool_uploads_in_flight gauge
jointpool_uploads_in_flight 2.0
process_cpu_seconds_total 1.0
"""
    unknown, missing = exposition_gaps(exposition)
    assert unknown == {"jointpool_uploads_in_flight", "jointpool_ftp_bans"}
    assert "jointpool_ftp_logins_total" not in missing
    assert "jointpool_job_duration_seconds" not in missing
    assert "jointpool_ftp_sessions_active" in missing
    assert "jointpool_ftp_bans_active" in missing


def test_every_contract_setting_exists() -> None:
    # The compose file and the deploy files set these; the metrics code must define them.
    from pool_core.settings import Settings

    names = {f"JOINTPOOL_{name.upper()}" for name in Settings.model_fields}
    assert names >= CONTRACT_SETTINGS, CONTRACT_SETTINGS - names
