"""``manage.py datahost_user NAME``: create or update a user with a password (read from
``$DATAHOST_USER_PASSWORD`` or ``--password-file``, never the command line), certificate DNs,
a quota and groups. The password must pass the instance's rules (``AUTH_PASSWORD_VALIDATORS``)."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from datahost_server.models import CertificateDN, StorageAccount


class Command(BaseCommand):
    help = "Create or update a DataHost user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password-file", help="file whose first line is the password")
        parser.add_argument("--dn", action="append", default=[], help="certificate DN mapped to the user (repeatable)")
        parser.add_argument("--quota", type=int, help="quota in bytes (omit: the instance default)")
        parser.add_argument("--group", action="append", default=[], help="group to add the user to (repeatable)")
        parser.add_argument("--staff", action="store_true", help="may use the admin site (superuser)")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        user, created = User.objects.get_or_create(username=options["username"])
        password = _password(options["password_file"])
        if password:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                rules = " ".join(password_validators_help_texts())
                raise CommandError(
                    f"the password of {user.username} is refused: {' '.join(exc.messages)} (the rules: {rules})"
                ) from None
            user.set_password(password)
        elif created:
            user.set_unusable_password()  # certificate-only user
        if options["staff"]:
            user.is_staff = user.is_superuser = True
        user.save()
        account, _ = StorageAccount.objects.get_or_create(user=user)
        if options["quota"] is not None:
            account.quota_bytes = options["quota"]
            account.save()
        for dn in options["dn"]:
            mapping, _ = CertificateDN.objects.get_or_create(dn=dn, defaults={"user": user})
            if mapping.user_id != user.pk:
                raise CommandError(f"the DN {dn} is already mapped to {mapping.user}")
        for name in options["group"]:
            group, _ = Group.objects.get_or_create(name=name)
            user.groups.add(group)
        self.stdout.write(f"{'created' if created else 'updated'} user {user.username}")


def _password(path: str | None) -> str:
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\n")
    return os.environ.get("DATAHOST_USER_PASSWORD", "")
