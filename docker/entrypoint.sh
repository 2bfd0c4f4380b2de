#!/bin/sh
# Container entrypoint: private files are created readable by this user only, then the
# command runs as PID 1's child-free replacement (signals reach gunicorn/celery directly).
#   faceweb-entrypoint migrate   -> python manage.py migrate --noinput
#   faceweb-entrypoint <command> -> runs it
set -eu
umask 0077
if [ "${1:-}" = "migrate" ]; then
    shift
    exec python manage.py migrate --noinput "$@"
fi
exec "$@"
