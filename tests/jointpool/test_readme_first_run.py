"""The README is the test: a fresh copy, `make run` as printed, FTPS upload, ready, Ctrl-C, again.

What a newcomer does, with nothing the tests usually add: no `JOINTPOOL_` variable, the
default ports and data dir (`./var`, relative to the copy), a `.venv` that `make run` makes
itself. It takes a few minutes (pip install, SeaweedFS, a transcode); deselect it locally
with `-m "not readme"`; `make test` and `.ci/run` run it.
"""

from __future__ import annotations

import ftplib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pool_core.seaweed import internal_ports, port_is_free
from pool_core.settings import Settings, parse_port_range
from tests.fixtures.media import TONE_23

ROOT = Path(__file__).resolve().parents[2]
BANNER_END = "Try: curl"
# Variables a shell inside `make test` or an activated venv would pass on; a newcomer's
# terminal has none of them.
NOT_A_NEWCOMERS = ("VIRTUAL_ENV", "PYTHONPATH", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PYTHONHOME")

pytestmark = [pytest.mark.readme, pytest.mark.slow, pytest.mark.timeout(1500)]


def readme_run_command() -> list[str]:
    """The start command of the README's "Get started" block, without its comment."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Get started", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    for line in block.splitlines():
        command = line.split("#", 1)[0].strip()
        if command.endswith(" run") or command == "make run":
            return command.split()
    raise AssertionError("the README's Get started block has no `make run` line")


def default_ports() -> dict[str, int]:
    """Every port the stack listens on with default settings, by name."""
    defaults = Settings.model_fields
    ports = {
        "ftp": defaults["ftp_port"].default,
        "api": defaults["api_port"].default,
        "s3": defaults["s3_embedded_port"].default,
    }
    for name, port in internal_ports(defaults["s3_embedded_base_port"].default).items():
        ports[f"seaweed {name}"] = port
    return ports


def passive_ports() -> dict[str, int]:
    """The default passive range: bound only while a transfer opens its data connection."""
    low, high = parse_port_range(Settings.model_fields["ftp_passive_ports"].default)
    return {f"passive {p}": p for p in range(low, high + 1)}


def fresh_copy(dest: Path) -> str:
    """Clone the commit HEAD points at; return its id.

    A clone, as a newcomer makes one: uncommitted changes of the tree the tests run in are
    not in it (the test checks HEAD as committed), nor are `.venv` and `var/`.
    """
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(dest)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["git", "-C", str(dest), "checkout", "--quiet", "--detach", head],
        check=True,
        capture_output=True,
    )
    return head


@dataclass
class Account:
    """A demo account read from the banner."""

    username: str
    password: str
    token: str


class Terminal:
    """`make run` in its own process group, as a shell runs a foreground job."""

    def __init__(self, cwd: Path, command: list[str], log: Path) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("JOINTPOOL_") and k not in NOT_A_NEWCOMERS
        }
        self.log = log
        with open(log, "wb") as sink:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        """Everything printed so far."""
        return self.log.read_text(errors="replace")

    def wait_for_banner(self, timeout: float) -> str:
        """Poll the output until the banner's last line, failing with what was printed."""
        deadline = time.monotonic() + timeout
        while BANNER_END not in self.output():
            assert self.process.poll() is None, "make run exited:\n" + self.output()
            assert time.monotonic() < deadline, "no banner in time:\n" + self.output()
            time.sleep(0.5)
        return self.output()

    def ctrl_c(self, timeout: float = 120) -> int:
        """SIGINT to the whole foreground group, as the terminal sends on Ctrl-C."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError("make run did not stop on Ctrl-C:\n" + self.output()) from None


def uploader_from(banner: str) -> Account:
    """The demo uploader's FTP login and API token, as the banner prints them."""
    match = re.search(
        r"uploader\s+user (\S+) password (\S+)\s+api token (\S+)",
        banner,
    )
    assert match, "no uploader in the banner:\n" + banner
    return Account(*match.groups())


def ftps_login(account: Account, timeout: float) -> ftplib.FTP_TLS:
    """Log in over explicit TLS with a protected data channel, retrying until FTP listens."""
    deadline = time.monotonic() + timeout
    while True:
        ftp = ftplib.FTP_TLS(timeout=30)
        try:
            ftp.connect("127.0.0.1", 2121)
            break
        except OSError:
            ftp.close()
            assert time.monotonic() < deadline, "FTP did not listen on 2121"
            time.sleep(0.5)
    ftp.auth()
    ftp.login(account.username, account.password)
    ftp.prot_p()
    return ftp


def api_get(path: str, token: str) -> object:
    """GET a JSON document from the API on its default port."""
    request = urllib.request.Request(
        f"http://127.0.0.1:8000{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def wait_until_ready(token: str, filename: str, timeout: float) -> dict[str, object]:
    """Poll the API until the uploaded master's asset is `ready`; fail on `failed`."""
    deadline = time.monotonic() + timeout
    seen: object = None
    while time.monotonic() < deadline:
        try:
            page = api_get("/v1/assets", token)
        except OSError:  # the API may still be starting
            page = None
        items = page.get("items", []) if isinstance(page, dict) else []
        mine = [a for a in items if a.get("filename") == filename]
        if mine:
            seen = mine[0]
            assert mine[0]["status"] != "failed", mine[0]
            if mine[0]["status"] == "ready":
                return dict(mine[0])
        time.sleep(1)
    raise AssertionError(f"asset of {filename} not ready in {timeout:.0f}s; last seen: {seen}")


def wait_released(ports: dict[str, int], timeout: float) -> None:
    """Poll until none of the ports is held any more."""
    deadline = time.monotonic() + timeout
    while held := [f"{n} {p}" for n, p in ports.items() if not port_is_free(p)]:
        assert time.monotonic() < deadline, f"still held after Ctrl-C: {', '.join(held)}"
        time.sleep(0.5)


@pytest.fixture
def free_default_ports() -> Iterator[dict[str, int]]:
    """The default listening ports, all free, or a skip naming the ones in use."""
    ports = default_ports()
    taken = [f"{name} {port}" for name, port in ports.items() if not port_is_free(port)]
    if taken:
        pytest.skip(f"default port(s) in use on this machine: {', '.join(taken)}")
    # The FTP server takes any free port of its passive range; only a full range stops it.
    if not any(port_is_free(port) for port in passive_ports().values()):
        pytest.skip("every port of the default passive range 30000-30099 is in use")
    # Those free now must be free again after Ctrl-C.
    yield ports | {name: port for name, port in passive_ports().items() if port_is_free(port)}


def test_readme_commands_from_a_fresh_clone(
    tmp_path: Path, free_default_ports: dict[str, int], ffmpeg_path: str
) -> None:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout (or no git): nothing to clone")
    if shutil.which("make") is None:
        pytest.skip("no `make` on this machine (.ci/run installs it)")
    copy = tmp_path / "jointpool"
    fresh_copy(copy)
    assert not (copy / ".venv").exists() and not (copy / "var").exists()
    command = readme_run_command()
    assert command == ["make", "run"]

    clip = tmp_path / "first-contact.mp4"
    subprocess.run(
        [
            ffmpeg_path, "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
            "-f", "lavfi", "-i", f"aevalsrc={TONE_23}|{TONE_23}:s=48000:c=stereo:d=2",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            str(clip),
        ],
        check=True,
    )  # fmt: skip

    first = Terminal(copy, command, tmp_path / "first-run.txt")
    try:
        # Long: the first run creates .venv and pip-installs the project.
        account = uploader_from(first.wait_for_banner(timeout=900))
        ftp = ftps_login(account, timeout=120)
        try:
            with open(clip, "rb") as handle:
                reply = ftp.storbinary(f"STOR /incoming/{clip.name}", handle)
            assert reply.startswith("226"), reply
        finally:
            ftp.quit()
        asset = wait_until_ready(account.token, clip.name, timeout=300)
        assert asset["size"] == clip.stat().st_size
    finally:
        first.ctrl_c()
    output = first.output()
    assert "Joint FTP Pool stopped." in output, output
    # The console a newcomer reads: no migration plumbing, no queue polling at INFO.
    assert "alembic.runtime.plugins" not in output, output
    assert "webhook_dispatch" not in output, output
    wait_released(free_default_ports, timeout=60)
    var = copy / "var"
    for kept in ("pool.db", "demo-credentials.json", "embedded-secrets.json", "s3"):
        assert (var / kept).exists(), f"var/{kept} was not kept"

    second = Terminal(copy, command, tmp_path / "second-run.txt")
    try:
        again = uploader_from(second.wait_for_banner(timeout=300))
        assert again == account
        ftp = ftps_login(again, timeout=120)
        try:
            listed = [name.rsplit("/", 1)[-1] for name in ftp.nlst("/incoming")]
            assert clip.name in listed, listed
        finally:
            ftp.quit()
    finally:
        second.ctrl_c()
    assert "Joint FTP Pool stopped." in second.output(), second.output()
    wait_released(free_default_ports, timeout=60)
