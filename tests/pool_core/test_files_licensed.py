"""The virtual tree's `/licensed` folder is the licensee's read-only view of its licenses."""

from __future__ import annotations

import pytest

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.errors import NotFound, PermissionDenied
from pool_core.files import tree
from pool_core.files.downloads import open_download
from pool_core.licensing import workflow
from tests.pool_core.test_licensing import build_world, grant, open_window

EPISODE = "/licensed/aztv/Qaraqum _ Desert/S01E02/ep2.mxf"


def test_licensed_masters_appear_read_only_and_vanish_on_revocation(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        tree.ensure_roots(session, org_id=w.buyer.id)
        open_window(session, w)
        assert tree.list_dir(session, org_id=w.buyer.id, path="/licensed") == []
        license_ = grant(session, w, w.buyer_editor)

        top = tree.list_dir(session, org_id=w.buyer.id, path="/licensed")
        assert [(v.name, v.is_dir, v.writable) for v in top] == [("aztv", True, False)]
        view = tree.stat(session, org_id=w.buyer.id, path=EPISODE)
        assert (view.size, view.sha256, view.writable) == (
            w.assets[1].size,
            w.assets[1].sha256,
            False,
        )
        buyer, rival = Actor.for_user(w.buyer_editor, channel="ftp"), Actor.for_user(w.rival_editor)
        target = open_download(session, actor=buyer, target=EPISODE)
        assert target.object_key == w.assets[1].object_key
        assert target.license is not None and target.license.id == license_.id
        with pytest.raises(PermissionDenied):
            tree.make_dir(session, org_id=w.buyer.id, path="/licensed/aztv/new")

        with pytest.raises(NotFound):
            open_download(session, actor=rival, target=EPISODE)
        workflow.revoke_license(session, license_id=license_.id, actor=Actor.for_user(w.owner_rm))
        with pytest.raises(NotFound):
            tree.stat(session, org_id=w.buyer.id, path=EPISODE)
        with pytest.raises(NotFound):
            open_download(session, actor=buyer, target=EPISODE)
        assert tree.list_dir(session, org_id=w.buyer.id, path="/licensed") == []
