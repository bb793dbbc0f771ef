# The pool's one image: `jointpool ftp`, `jointpool api`, `jointpool worker`, `jointpool db upgrade`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# Fonts for the burnt-in watermark and timecode of the proxies.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY pool_core ./pool_core
COPY pool_server ./pool_server
COPY catalog_api ./catalog_api
COPY transcode ./transcode
COPY jointpool ./jointpool
COPY migrations ./migrations
# The sync client is its own distribution (clients/sync); the server depends on it.
COPY clients/sync ./clients/sync
RUN pip install ./clients/sync .

RUN useradd --system --home /var/lib/jointpool --create-home jointpool
USER jointpool
ENV JOINTPOOL_DATA_DIR=/var/lib/jointpool
ENTRYPOINT ["jointpool"]
CMD ["up"]
