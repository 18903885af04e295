"""The Django application."""

from __future__ import annotations

from django.apps import AppConfig


class DataHostConfig(AppConfig):
    name = "datahost_server"
    label = "datahost"
    verbose_name = "DataHost"
    default_auto_field = "django.db.models.BigAutoField"
