#!/usr/bin/env bash
# Entry point of the project image (docker/airflow.Dockerfile): runs its arguments.
#
# When AIRFLOW_ADMIN_PASSWORD is set (docker-compose.yaml gives it to the api-server only), first
# write it to the simple auth manager's password file: without one, Airflow generates a random
# password and prints it to the log. The variable is then removed from the command's environment.
set -euo pipefail

if [[ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ]]; then
    python - <<'PY'
import json
import os

home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
path = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE") or os.path.join(
    home, "simple_auth_manager_passwords.json.generated"
)
user = os.environ.get("AIRFLOW_ADMIN_USER") or "admin"
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.fchmod(fd, 0o600)
with os.fdopen(fd, "w") as out:
    json.dump({user: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, out)
    out.write("\n")
PY
    unset AIRFLOW_ADMIN_PASSWORD
fi

exec "$@"
