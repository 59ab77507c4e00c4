# syntax=docker/dockerfile:1

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------
# builder: compiles/installs the project and its dependencies into a venv that
# is copied as a whole into the runtime stage, so compilers and headers never
# reach the final image.
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Only needed when a dependency has no wheel for the target platform
# (pyodbc is the usual suspect); unixodbc-dev provides sql.h for it.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential unixodbc-dev \
 && rm -rf /var/lib/apt/lists/*

# Same path as in the runtime stage: a venv is not relocatable.
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src

# Dependencies first, read from pyproject.toml alone, so that editing the
# code does not re-download pandas/scikit-learn/... on every build.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb')).get('project', {}).get('dependencies', [])))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# Non-editable install: package data (settings.json, prediction_schedule.json)
# ends up inside the venv and /src is not needed at runtime.
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install . \
 && pip check

# ---------------------------------------------------------------------------
# runtime
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# pyodbc needs the unixODBC driver manager plus Microsoft's driver; the URLs
# in TWIN_DATABASE_URL name "ODBC Driver 18 for SQL Server". curl is only
# needed to fetch the signing key and is purged in the same layer (libcurl
# stays: msodbcsql18 depends on it). apt reads the armored .asc key directly,
# so gnupg is not needed.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    curl -fsSL https://packages.microsoft.com/keys/microsoft.asc \
        -o /usr/share/keyrings/microsoft-prod.asc; \
    echo "deb [arch=$(dpkg --print-architecture) signed-by=/usr/share/keyrings/microsoft-prod.asc] https://packages.microsoft.com/debian/12/prod bookworm main" \
        > /etc/apt/sources.list.d/microsoft-prod.list; \
    apt-get update; \
    ACCEPT_EULA=Y apt-get install -y --no-install-recommends msodbcsql18 unixodbc; \
    apt-get purge -y --auto-remove curl; \
    rm -rf /var/lib/apt/lists/*

# Fixed uid/gid so bind-mounted host directories can be chowned to match
# (chown -R 10001:10001). /data is created and owned here, before VOLUME, so a
# fresh named volume is initialised with this ownership. The installed
# prediction_models package is root-owned and read-only, hence
# TWIN_MODELS_DIR pointing into the volume.
RUN groupadd --system --gid 10001 twin \
 && useradd --system --uid 10001 --gid twin --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin twin \
 && mkdir -p /data/models \
 && chown -R twin:twin /data

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TWIN_HOME=/data \
    TWIN_MODELS_DIR=/data/models

# Numeric user so orchestrators enforcing runAsNonRoot can verify it.
USER 10001:10001
# Writable cwd: Celery beat and other relative-path writers land in the volume.
WORKDIR /data
VOLUME ["/data"]

EXPOSE 8050

# No curl in the image; urlopen raises on 503, which makes the check fail.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/healthz', timeout=8)"]

CMD ["twin", "web", "--host", "0.0.0.0", "--port", "8050"]
