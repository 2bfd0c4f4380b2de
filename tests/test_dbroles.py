"""Least privilege: erasure done by the application's role still leaves no erased byte in the table files,
because the table rewrite runs on the maintenance path, as the owner."""

from __future__ import annotations

import numpy as np
from django.db import connection
from helpers import APP_ROLE, consent_for, ensure_app_role, table_file
from psycopg import sql

from recognition.models import Face, Person
from recognition.services import erasure


def test_erasure_by_the_app_role_leaves_no_erased_bytes_in_the_table_files(transactional_db, make_user,
                                                                           face_photo, ingest):
    marker = "Quentin Splitrole-Marker"
    alice = make_user("alice", "uploader")
    alice.first_name, alice.last_name = marker.split(" ", 1)
    alice.save()
    operator = make_user("oscar", "operator")
    consent_for(alice, "enrol")
    photo = ingest(alice, face_photo("obama.jpg"), "enrol")
    person = Person.objects.get(user=alice)
    vector = np.asarray(Face.objects.get(photo=photo).embedding, dtype="<f4").tobytes()
    assert marker.encode() in table_file("recognition_person")
    assert vector in table_file("recognition_face")

    ensure_app_role()
    with connection.cursor() as cur:
        cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)).as_string(cur.connection))
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (APP_ROLE,)
        # As the web app does it: the erasure commits as the app role, then the rewrite follows.
        receipt = erasure.erase_person(person=person, actor=operator, reason="request 9",
                                       vacuum=erasure.VACUUM_NOW)
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET ROLE")
    assert receipt.counts["faces"] == 1
    left = [table for table, needle in (("recognition_person", marker.encode()), ("recognition_face", vector),
                                        ("face_embedding_hnsw", vector))
            if needle in table_file(table)]
    assert left == [], f"erased bytes left in {left}"
