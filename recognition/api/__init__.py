"""The versioned REST API (v1): serializers, permissions, token authentication, thin views.

API views check a capability of ``recognition.roles``, read through ``recognition.selectors``
and act through ``recognition.services`` (the same operations as the pages). Only the root
URLconf imports this package's URLs; ``tasks.py`` here holds the API's own Celery task.
"""
