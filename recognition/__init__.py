"""The faceweb domain app: consent, photos, faces, identification, review, audit and erasure.

Layers, each importing only those below it: ``engine`` (the machine learning, no
Django) at the bottom; ``models``, ``roles``, ``audit`` and ``background``; ``selectors``
(reads with visibility rules) and ``services`` (every business operation); then the
entry points: ``views`` (HTML pages), ``api`` (REST), ``tasks`` (Celery) and
``management/commands``. Nothing here imports ``tests`` or ``bench``.
"""
