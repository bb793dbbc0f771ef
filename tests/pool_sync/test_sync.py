"""`jointpool sync` against the real API (uvicorn) and real SeaweedFS presigned URLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.licensing import workflow
from pool_core.models import Delivery, utcnow
from pool_core.services import accounts
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_sync.cli import main
from pool_sync.config import STATE_DIR
from pool_sync.download import fetch
from pool_sync.errors import ChecksumMismatch
from tests.pool_core.test_licensing import make_asset
from tests.pool_sync.harness import EP1, EP2, Env, make_env, sha


@pytest.fixture
def env(
    database: Database, storage: S3Storage, storage_settings: Settings, tmp_path: Path
) -> Iterator[Env]:
    yield from make_env(database, storage, storage_settings, tmp_path)


def test_sync_downloads_verifies_and_is_idempotent(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary = env.run()
    assert code == 0, capsys.readouterr()
    assert summary["downloaded"] == 2 and summary["failed"] == 0
    for path, name in ((EP1, "ep1.mxf"), (EP2, "ep2.mxf")):
        target = env.dest / path
        assert sha(target.read_bytes()) == sha(env.lw.masters[name])
        meta = json.loads(target.with_name(name + ".json").read_text())
        assert meta["title"]["original_title"] == "Qaraqum / Desert"
        assert meta["license"]["id"] == env.lw.license_id
    assert not list((env.dest / STATE_DIR / "partial").iterdir())
    out = capsys.readouterr().out
    assert "sha256 verified" in out and "2 downloaded" in out
    # Not a terminal: plain timestamped lines, no carriage returns.
    assert "\r" not in out

    code, again = env.run()
    assert code == 0
    assert again["downloaded"] == 0 and again["skipped"] == 2
    assert again["bytes_fetched"] == 0


def test_state_lost_files_are_adopted_by_hash(env: Env) -> None:
    assert env.run()[0] == 0
    (env.dest / STATE_DIR / "state.json").unlink()
    code, summary = env.run()
    assert code == 0 and summary["skipped"] == 2 and summary["bytes_fetched"] == 0


def test_killed_sync_resumes_without_refetching(
    database: Database, storage: S3Storage, storage_settings: Settings, tmp_path: Path
) -> None:
    # One 6 MiB master, fetched at 1 MiB/s so it can be killed half way.
    for env in make_env(database, storage, storage_settings, tmp_path, sizes=(6 << 20, 4096)):
        env.write_config(limit_rate="1M", parallel=1)
        big_id = str(env.lw.world.assets[0].id)
        part = env.dest / STATE_DIR / "partial" / f"{big_id}.part"
        child = subprocess.Popen(
            [sys.executable, "-m", "pool_sync", "--config", str(env.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while not (part.exists() and part.stat().st_size >= 2 << 20):
                assert child.poll() is None, child.stderr.read() if child.stderr else ""
                assert time.monotonic() < deadline, "the download never got going"
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            if child.stderr:
                child.stderr.close()
        kept = part.stat().st_size
        assert 0 < kept < 6 << 20
        assert not (env.dest / EP1).exists()
        # The killed run saved no cursor.
        state_file = env.dest / STATE_DIR / "state.json"
        assert not state_file.exists() or json.loads(state_file.read_text())["cursor"] == ""

        env.write_config(parallel=1)
        code, summary = env.run()
        assert code == 0
        by_path = {i["path"]: i for i in summary["items"]}
        assert by_path[EP1]["resumed_from"] == kept
        assert by_path[EP1]["fetched"] == (6 << 20) - kept
        assert sha((env.dest / EP1).read_bytes()) == sha(env.lw.masters["ep1.mxf"])
        assert json.loads(state_file.read_text())["cursor"] != ""
        # The delivery log shows the resumed request's offset, against the license.
        with env.db.session() as session:
            offsets = [
                (d.license_id, d.offset)
                for d in session.scalars(
                    select(Delivery).where(Delivery.asset_id == env.lw.world.assets[0].id)
                )
            ]
        assert (env.lw.license_id, 0) in offsets and (env.lw.license_id, kept) in offsets


def test_expired_token_is_a_clear_error(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    with env.db.write_session() as session:
        user = session.get(type(env.lw.world.buyer_editor), env.lw.world.buyer_editor.id)
        assert user is not None
        _, token = accounts.create_api_token(
            session, user=user, expires_at=utcnow() - timedelta(minutes=1)
        )
    env.write_config(token=token)
    code, _ = env.run()
    assert code == 2
    err = capsys.readouterr().err
    assert "refused the token" in err and "expired" in err


def test_wrong_destination_is_a_clear_error(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    missing = env.tmp / "nowhere"
    code = main(["--config", str(env.config), "--destination", str(missing)])
    assert code == 2
    assert f"destination {missing} does not exist" in capsys.readouterr().err
    a_file = env.tmp / "a-file"
    a_file.write_text("x")
    assert main(["--config", str(env.config), "--destination", str(a_file)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes through permissions
        locked = env.tmp / "locked"
        locked.mkdir(mode=0o555)
        assert main(["--config", str(env.config), "--destination", str(locked)]) == 2
        assert "is not writable" in capsys.readouterr().err
    assert main(["--config", str(env.tmp / "no.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_revoked_license_is_reported_and_pruned_only_when_asked(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert env.run()[0] == 0
    with env.db.session() as session:
        owner_rm = session.get(type(env.lw.world.owner_rm), env.lw.world.owner_rm.id)
        assert owner_rm is not None
        workflow.revoke_license(
            session, license_id=env.lw.license_id, actor=Actor.for_user(owner_rm)
        )
    capsys.readouterr()
    code, summary = env.run()
    assert code == 0
    assert sorted(summary["no_longer_licensed"]) == [EP1, EP2]
    assert summary["ended_licenses"] == {str(env.lw.license_id): "license.revoked"}
    assert (env.dest / EP1).exists()
    assert "license revoked" in capsys.readouterr().out
    code, summary = env.run("--prune")
    assert code == 0 and sorted(summary["pruned"]) == [EP1, EP2]
    assert not (env.dest / EP1).exists() and not (env.dest / (EP1 + ".json")).exists()


def test_checksum_mismatch_fails_and_keeps_the_cursor(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupted = env.lw.world.assets[1]
    env.storage.put(corrupted.object_key, os.urandom(corrupted.size))
    code, summary = env.run()
    assert code == 1
    assert summary["failed"] == 1 and summary["cursor_saved"] is False
    assert not (env.dest / EP2).exists()
    assert (env.dest / EP1).exists()
    err = capsys.readouterr().err
    assert "failed: " + EP2 in err and "SHA-256" in err


def test_fetch_resumes_a_partial_file_from_a_presigned_url(
    storage: S3Storage, tmp_path: Path
) -> None:
    data = os.urandom(3 << 20)
    storage.put("masters/x/y/master.mxf", data)
    url = storage.presigned_get("masters/x/y/master.mxf", expires_in=300)
    part, final = tmp_path / "m.part", tmp_path / "out" / "master.mxf"
    part.write_bytes(data[: 1 << 20])
    offsets: list[int] = []

    def url_for(offset: int) -> str:
        offsets.append(offset)
        return url

    result = fetch(url_for=url_for, part=part, final=final, size=len(data), sha256=sha(data))
    assert offsets == [1 << 20]
    assert result.fetched == len(data) - (1 << 20) and result.resumed_from == 1 << 20
    assert final.read_bytes() == data and not part.exists()
    # A corrupted partial file is caught by the hash and removed.
    part.write_bytes(b"\0" * (1 << 20))
    with pytest.raises(ChecksumMismatch):
        fetch(
            url_for=url_for,
            part=part,
            final=tmp_path / "bad.mxf",
            size=len(data),
            sha256=sha(data),
        )
    assert not part.exists() and not (tmp_path / "bad.mxf").exists()


def test_paths_differing_only_in_case_never_share_a_file(
    env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first = env.run()
    assert code == 0 and first["downloaded"] == 2
    # The publisher adds `EP1.mxf` beside `ep1.mxf`: one file on NTFS or APFS.
    upper = os.urandom(50_000)
    with env.db.session() as session:
        w = env.lw.world
        owner, title, episode = (session.merge(x) for x in (w.owner, w.title, w.episodes[0]))
        asset = make_asset(session, owner, title, episode, "EP1.mxf", upper)
        asset_id, key = str(asset.id), asset.object_key
    env.storage.put(key, upper)
    upper_path = EP1.removesuffix("ep1.mxf") + "EP1.mxf"
    # No case-insensitive file system can be mounted here: the run is told what the probe
    # answers on one (the probe itself is tested in test_paths).
    monkeypatch.setattr("pool_sync.planning.case_insensitive", lambda folder: True)
    code, second = env.run()
    assert code != 0 and second["failed"] == 1, capsys.readouterr()
    [failed] = [i for i in second["items"] if i["status"] == "failed"]
    assert failed["path"] == upper_path and failed["asset_id"] == asset_id
    # `ep1.mxf` is in the state file, so it keeps the name although `EP1` sorts first.
    assert repr(EP1) in failed["error"] and "does not tell letter case apart" in failed["error"]
    assert sha((env.dest / EP1).read_bytes()) == sha(env.lw.masters["ep1.mxf"])
    assert not (env.dest / upper_path).exists()
    state = json.loads((env.dest / STATE_DIR / "state.json").read_text(encoding="utf-8"))
    assert upper_path not in state["files"] and EP1 in state["files"]

    # A state file from before the check keys both paths: the loser is forgot, never pruned
    # (its file on disk is the winner's).
    # The disk holds `ep1.mxf`'s bytes, so that entry stays although `EP1` sorts first.
    loser = {"asset_id": asset_id, "size": len(upper), "sha256": sha(upper)}
    state["files"][upper_path] = {**state["files"][EP1], **loser}
    (env.dest / STATE_DIR / "state.json").write_text(json.dumps(state), encoding="utf-8")
    code, third = env.run("--prune")
    assert third["failed"] == 1 and third["pruned"] == []
    assert sha((env.dest / EP1).read_bytes()) == sha(env.lw.masters["ep1.mxf"])
    state = json.loads((env.dest / STATE_DIR / "state.json").read_text(encoding="utf-8"))
    assert sorted(state["files"]) == [EP1, EP2]
    assert f"forgot {upper_path} from the state file" in capsys.readouterr().out
