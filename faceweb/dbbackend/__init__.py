"""PostgreSQL backend with the access log's commit-time append (``ENGINE = "faceweb.dbbackend"``).

Loaded by Django from ``DATABASES``; nothing imports it directly.
"""
