"""gunicorn settings for the production image (``gunicorn -c python:faceweb.gunicorn_conf faceweb.wsgi``).

Command-line options still override these. Read from the same environment as Django.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", "3"))
# Threaded workers: the worker's main loop keeps reporting to the arbiter while a thread streams
# a long response, so a multi-minute access-log export is not killed at ``timeout`` (which still
# catches a hung worker); a sync worker would be killed mid-stream (docs/compliance.md).
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))
accesslog = "-"
# X-Forwarded-Proto (and the other forwarding headers) are believed only from the proxies
# Django trusts for X-Forwarded-For (TRUSTED_PROXIES, addresses or CIDR networks); with
# none configured, from nobody (not even 127.0.0.1, unlike gunicorn's default).
forwarded_allow_ips = ",".join(p.strip() for p in os.environ.get("TRUSTED_PROXIES", "").split(",")
                               if p.strip())
# Request head limits (the body's size is refused from its Content-Length by faceweb.wsgi).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
