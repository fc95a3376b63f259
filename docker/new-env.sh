#!/bin/sh
# Write .env for docker compose: a copy of .env.example with every empty password and secret
# filled with a new random value. Never overwrites an existing file.
#
#   sh docker/new-env.sh [path]      (default: .env at the repository root)
#
# Values are letters and digits only: some end up in URLs (Airflow's database URL) and config
# files (ClickHouse's users file), where other characters would need escaping.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
target=${1:-"$root/.env"}
if [ -e "$target" ]; then
    echo "new-env: $target exists; not overwriting it (delete it first to start afresh)" >&2
    exit 1
fi

random() {
    LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$1"
}

# A Fernet key: 32 random bytes, url-safe base64.
fernet() {
    head -c 32 /dev/urandom | base64 | tr -d '\n' | tr '+/' '-_'
}

umask 077
tmp="$target.tmp.$$"
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        DWH_S3_ACCESS_KEY=) line="${line}dwh$(random 17)" ;;
        AIRFLOW_FERNET_KEY=) line="${line}$(fernet)" ;;
        # JWTs are signed with HMAC-SHA512, which wants a key of 64 bytes or more
        AIRFLOW_JWT_SECRET= | AIRFLOW_API_SECRET_KEY=) line="${line}$(random 64)" ;;
        DWH_PG_PASSWORD= | DWH_CH_PASSWORD= | DWH_S3_SECRET_KEY= | POSTGRES_PASSWORD= | \
            AIRFLOW_DB_PASSWORD= | AIRFLOW_ADMIN_PASSWORD=)
            line="${line}$(random 32)"
            ;;
    esac
    printf '%s\n' "$line"
done <"$root/.env.example" >"$tmp"
mv "$tmp" "$target"
echo "new-env: wrote $target (passwords generated; the Airflow login is in AIRFLOW_ADMIN_*)"
