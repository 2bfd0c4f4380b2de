#!/bin/sh
# Runs once, when the pgvector/pgvector image initialises an empty data volume (as the
# superuser, from /docker-entrypoint-initdb.d). Two roles, least privilege:
#   faceweb_owner  owns the database and every table: migrations and maintenance (VACUUM FULL
#                  after an erasure, index builds). Only the migrate step and the maintenance
#                  worker know its password.
#   faceweb_app    the web app and the workers: uses the tables, only SELECT and INSERT on the
#                  access log (granted by migration 0007 through DB_APP_ROLE), owns nothing.
# pgvector is not a trusted extension: the superuser creates it here, so the owner need not be one.
set -eu
: "${FACEWEB_OWNER_PASSWORD:?set FACEWEB_OWNER_PASSWORD}"
: "${FACEWEB_APP_PASSWORD:?set FACEWEB_APP_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v owner_pw="$FACEWEB_OWNER_PASSWORD" -v app_pw="$FACEWEB_APP_PASSWORD" <<'SQL'
CREATE ROLE faceweb_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE faceweb_app LOGIN PASSWORD :'app_pw';
CREATE DATABASE faceweb OWNER faceweb_owner;
\connect faceweb
CREATE EXTENSION IF NOT EXISTS vector;
ALTER SCHEMA public OWNER TO faceweb_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE faceweb FROM PUBLIC;
GRANT CONNECT ON DATABASE faceweb TO faceweb_app;
SQL
