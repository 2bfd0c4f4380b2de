"""Erase one person's biometric data and print the signed receipt."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from recognition import roles
from recognition.exceptions import ServiceError
from recognition.models import Person
from recognition.services import erasure


class Command(BaseCommand):
    help = "Erase a person's photos, faces, embeddings, identifications and files; print the receipt (JSON)."

    def add_arguments(self, parser):
        parser.add_argument("--person-id", type=int, required=True)
        parser.add_argument("--reason", required=True, help="the request it answers (no names)")
        parser.add_argument("--operator", required=True, help="username of the operator")
        parser.add_argument("--output", "-o", help="also write the receipt to this file")

    def handle(self, *args, person_id: int, reason: str, operator: str, output: str | None, **opts):
        actor = get_user_model().objects.filter(username=operator).first()
        if actor is None:
            raise CommandError(f"no user named {operator!r}")
        if not actor.has_perm(roles.CAN_ERASE):
            raise CommandError(f"{operator} is not an operator (needs {roles.CAN_ERASE})")
        person = Person.objects.filter(pk=person_id).first()
        if person is None:
            raise CommandError(f"no person with id {person_id}")
        try:
            receipt = erasure.erase_person(person=person, actor=actor, reason=reason,
                                           vacuum=erasure.VACUUM_NOW)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        text = json.dumps(erasure.receipt_document(receipt), indent=2, sort_keys=True, ensure_ascii=False)
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        self.stdout.write(text)
        self.stderr.write(self.style.SUCCESS(
            f"erased {receipt.person_ref}: {receipt.counts}; receipt {receipt.pk}"))
