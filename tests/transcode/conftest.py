"""Settings for transcode tests: the test's SeaweedFS bucket and a private scratch dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from pool_core.settings import Settings


@pytest.fixture
def tc_settings(storage_settings: Settings, tmp_path: Path) -> Settings:
    """Settings aimed at this test's bucket, with scratch space the test can inspect."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return storage_settings.model_copy(update={"transcode_tmp_dir": scratch})
