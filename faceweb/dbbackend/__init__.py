"""PostgreSQL backend with the access log's commit-time append (``ENGINE = "faceweb.dbbackend"``)."""
