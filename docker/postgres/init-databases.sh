#!/usr/bin/env bash
# First start of the Postgres container only (mounted into /docker-entrypoint-initdb.d by
# docker-compose.yaml): the warehouse database and Airflow's metadata database, each owned by its
# own login role and closed to every other role.
#
# Values go in as psql variables (:"name" quotes an identifier, :'name' a literal), never spliced
# into SQL. The image's entrypoint may source this file, so it sets no shell options.
psql --no-psqlrc -v ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
    -v dwh_user="$DWH_PG_USER" \
    -v dwh_password="$DWH_PG_PASSWORD" \
    -v dwh_database="$DWH_PG_DATABASE" \
    -v airflow_user="${AIRFLOW_DB_USER:-airflow}" \
    -v airflow_password="$AIRFLOW_DB_PASSWORD" \
    -v airflow_database="${AIRFLOW_DB_NAME:-airflow}" <<'SQL'
create role :"dwh_user" login password :'dwh_password';
create database :"dwh_database" owner :"dwh_user";
revoke all on database :"dwh_database" from public;

create role :"airflow_user" login password :'airflow_password';
create database :"airflow_database" owner :"airflow_user";
revoke all on database :"airflow_database" from public;
SQL
