# syntax=docker/dockerfile:1

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY workers ./workers
COPY shipyard ./shipyard
COPY migrations ./migrations

RUN pip wheel --no-deps -w /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install /wheels/*.whl


FROM python:3.11-slim AS runtime

# A fixed, high uid so the owner of the /data volume is the same on every host.
RUN groupadd --system --gid 10001 shipyard \
    && useradd --system --uid 10001 --gid shipyard --create-home --home-dir /home/shipyard \
        --shell /usr/sbin/nologin shipyard

# Same base image and path as the build stage, so the venv's interpreter links stay valid.
COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHIPYARD_DATA_DIR=/data \
    SHIPYARD_HOST=0.0.0.0 \
    SHIPYARD_PORT=8000

# Created and chowned before VOLUME: a new named volume copies this ownership.
RUN mkdir /data && chown shipyard:shipyard /data
VOLUME ["/data"]

USER shipyard
WORKDIR /home/shipyard

EXPOSE 8000

# The slim image has no curl; urlopen raises (exit 1) on a refused connection or a non-2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["shipyard", "server"]
