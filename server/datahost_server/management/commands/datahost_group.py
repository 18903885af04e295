"""``manage.py datahost_group NAME --quota BYTES``: create a group and set its quota."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser

from datahost_server.models import GroupQuota


class Command(BaseCommand):
    help = "Create a group or set its quota."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--quota", type=int, help="bytes all members may store together")

    def handle(self, *args: Any, **options: Any) -> None:
        group, _ = Group.objects.get_or_create(name=options["name"])
        if options["quota"] is not None:
            GroupQuota.objects.update_or_create(group=group, defaults={"quota_bytes": options["quota"]})
        self.stdout.write(f"group {group.name} ready")
