# The project image of docker-compose.yaml: Airflow, dbt, the `ingest` package and the `dwh` CLI.
#
# Python 3.11 plus exactly requirements.lock, not apache/airflow: the official image brings Airflow
# with its own constraints and providers, and our lock installed over it would mix two dependency
# sets. Here there is one, the set `make venv` installs and the tests run against.
# Bookworm is the Debian the lock is resolved and tested on.
FROM python:3.11.15-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow \
    DWH_DBT_PROJECT_DIR=/opt/warehouse \
    DBT_PROFILES_DIR=/opt/warehouse \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

# Airflow and dbt run unprivileged; they write only AIRFLOW_HOME and the project's target/, logs/.
RUN groupadd --system --gid 50000 airflow \
    && useradd --system --uid 50000 --gid airflow --home-dir /opt/airflow \
        --shell /usr/sbin/nologin airflow \
    && install -d -o airflow -g airflow /opt/airflow /opt/airflow/logs /opt/warehouse

# The dependencies: the lock and nothing else (--no-deps: a package missing from the lock fails
# `pip check` below instead of coming in unpinned), in a layer code changes do not invalidate.
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv "$VIRTUAL_ENV" \
    && pip install pip==26.3 \
    && pip install --no-deps --requirement /tmp/requirements.lock

# The project itself, editable as in `make venv` (so the package's REPO_ROOT is this checkout),
# also with --no-deps; `pip check` then proves the lock is complete.
COPY --chown=airflow:airflow . /opt/warehouse
RUN pip install --no-deps --editable /opt/warehouse \
    && pip check

USER airflow
WORKDIR /opt/warehouse

# The manifests the DAGs render from, one per target where ingest/orchestration.py looks for
# them (manifest_path); dbt parse needs no connection.
RUN for target in postgres clickhouse vertica; do \
        dbt parse --quiet --target "$target" --target-path "target/airflow/$target" || exit 1; \
    done

ENTRYPOINT ["bash", "/opt/warehouse/docker/airflow-entrypoint.sh"]
CMD ["airflow", "version"]
