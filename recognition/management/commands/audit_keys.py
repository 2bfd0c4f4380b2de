"""Show the access log's key fingerprints and public key, or generate new keys."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from recognition import auditkeys


class Command(BaseCommand):
    help = ("Print the fingerprints of the audit keys in use and the public verification key for "
            "auditors; --generate prints fresh keys for the environment (docs/compliance.md, 'Keys').")

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true", help="print new keys")

    def handle(self, *args, generate: bool, **opts):
        if generate:
            keys = auditkeys.new_keys()
            self.stdout.write(f"AUDIT_HMAC_KEY={keys['AUDIT_HMAC_KEY']}")
            self.stdout.write(f"AUDIT_SIGNING_KEY={keys['AUDIT_SIGNING_KEY']}")
            self.stdout.write(f"# public key: {keys['public_key']} ({keys['public_fingerprint']})")
            self.stdout.write(f"# HMAC key fingerprint: {keys['hmac_fingerprint']}")
            return
        key = auditkeys.signing_key()
        fingerprint, _ = auditkeys.current_hmac()
        self.stdout.write(f"HMAC key in use:      {fingerprint}")
        for old in list(auditkeys.hmac_keys())[1:]:
            self.stdout.write(f"earlier HMAC key:     {old}")
        for lost in sorted(auditkeys.lost_hmac_fingerprints()):
            self.stdout.write(f"lost HMAC key:        {lost}")
        self.stdout.write(f"signing key:          {key.fingerprint}")
        self.stdout.write(f"public key (base64):  {key.public_b64}")
        for fp in list(auditkeys.verify_keys())[1:]:
            self.stdout.write(f"earlier public key:   {fp}")
