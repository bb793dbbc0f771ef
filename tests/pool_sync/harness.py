"""Test harness of the licensing area: the catalog API served by uvicorn on a free port, and
a licensed world whose masters really are in SeaweedFS."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from pool_core.db import Database
from pool_core.models import Asset
from pool_core.services import accounts
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_sync.cli import main
from tests.pool_core.test_licensing import World, build_world, grant, make_asset, open_window

# Where the two episode masters of the licensed world land in the destination.
EP1 = "aztv/Qaraqum _ Desert/S01E01/ep1.mxf"
EP2 = "aztv/Qaraqum _ Desert/S01E02/ep2.mxf"


def build_app(settings: Settings, db: Database, storage: S3Storage) -> FastAPI:
    """The catalog app, licensing routers included."""
    from catalog_api.app import create_app

    return create_app(settings, db, storage)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run the app with uvicorn on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class LicensedWorld:
    """A `World` whose buyer holds a license, with tokens and masters in storage."""

    world: World
    license_id: int
    buyer_token: str
    rival_token: str
    owner_token: str
    owner_rm_token: str
    masters: dict[str, bytes]


def put_master(storage: S3Storage, asset: Asset, data: bytes) -> None:
    """Store a master's bytes under its object key."""
    storage.put(asset.object_key, data)


def licensed_world(
    db: Database,
    storage: S3Storage,
    *,
    sizes: tuple[int, ...] = (300_000, 1_200_000),
    extra: int = 0,
) -> LicensedWorld:
    """Build the three-broadcaster world, license the serial to the buyer, store masters."""
    masters: dict[str, bytes] = {}
    with db.write_session() as session:
        w = build_world(session)
        for asset, size in zip(w.assets, sizes, strict=True):
            data = os.urandom(size)
            asset.size = len(data)
            asset.sha256 = hashlib.sha256(data).hexdigest()
            put_master(storage, asset, data)
            masters[asset.filename] = data
        for n in range(extra):
            data = os.urandom(sizes[-1])
            asset = make_asset(session, w.owner, w.title, None, f"extra{n:02d}.mov", data)
            put_master(storage, asset, data)
            masters[asset.filename] = data
            w.assets.append(asset)
        open_window(session, w)
        license_ = grant(session, w, w.buyer_editor)
        tokens: dict[str, Any] = {}
        for key, user in (
            ("buyer", w.buyer_editor),
            ("rival", w.rival_editor),
            ("owner", w.owner_editor),
            ("owner_rm", w.owner_rm),
        ):
            tokens[key] = accounts.create_api_token(session, user=user, name="test")[1]
        return LicensedWorld(
            world=w,
            license_id=license_.id,
            buyer_token=tokens["buyer"],
            rival_token=tokens["rival"],
            owner_token=tokens["owner"],
            owner_rm_token=tokens["owner_rm"],
            masters=masters,
        )


@dataclass
class Env:
    """A served API, its world, and a destination folder with a config file."""

    base: str
    lw: LicensedWorld
    db: Database
    storage: S3Storage
    dest: Path
    config: Path
    tmp: Path

    def write_config(self, token: str | None = None, **extra: Any) -> Path:
        values = {
            "api_url": self.base,
            "token": token or self.lw.buyer_token,
            "destination": str(self.dest),
            **extra,
        }
        lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        self.config.write_text("\n".join(lines) + "\n")
        return self.config

    def run(self, *args: str) -> tuple[int, dict[str, Any]]:
        summary = self.tmp / f"summary-{time.monotonic_ns()}.json"
        code = main(["--config", str(self.config), "--summary-json", str(summary), *args])
        data = json.loads(summary.read_text()) if summary.exists() else {}
        return code, data


def make_env(
    db: Database, storage: S3Storage, settings: Settings, tmp: Path, **kw: Any
) -> Iterator[Env]:
    """Build a licensed world, serve the API, and yield an `Env` with a config written."""
    lw = licensed_world(db, storage, **kw)
    dest = tmp / "dest"
    dest.mkdir()
    with serve(build_app(settings, db, storage)) as base:
        env = Env(base, lw, db, storage, dest, tmp / "sync.toml", tmp)
        env.write_config()
        yield env


def sha(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()
