"""Django's PostgreSQL backend, plus one hook: queued access-log entries are chained just before COMMIT.

``recognition.audit.log_access`` queues an entry on the connection; here, at the commit of
the outermost transaction, the queue is appended to the chain under the chain's advisory
lock, which the commit then releases. Rolling back (to a savepoint, or entirely) drops the
entries queued inside it. Under a test case's never-committed wrapping transaction, the
release of the outermost savepoint that the code itself opened plays the commit.
"""

from __future__ import annotations

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.audit_pending: list = []

    def _commit(self):
        from recognition import audit  # the backend loads before the app registry: import at use

        appended = audit.flush_pending(self) if self.audit_pending else None
        super()._commit()
        if appended:
            audit.note_committed(*appended)

    def _rollback(self):
        self.audit_pending = []
        super()._rollback()

    def _savepoint_commit(self, sid):
        from recognition import audit

        audit.flush_on_release(self)
        super()._savepoint_commit(sid)

    def _savepoint_rollback(self, sid):
        from recognition import audit

        audit.discard_pending(self, sid)
        super()._savepoint_rollback(sid)

    def close(self):
        self.audit_pending = []
        super().close()
