"""The access log is append-only: the database refuses UPDATE and DELETE on its rows.

TRUNCATE is left to the privilege model (in production the application's role does not
own the table); the test runner needs it to reset the database between tests.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION recognition_accessevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER recognition_accessevent_no_update_delete
    BEFORE UPDATE OR DELETE ON recognition_accessevent
    FOR EACH ROW EXECUTE FUNCTION recognition_accessevent_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS recognition_accessevent_no_update_delete ON recognition_accessevent;
DROP FUNCTION IF EXISTS recognition_accessevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("recognition", "0002_roles_and_notice")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
