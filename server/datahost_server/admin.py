"""The Django admin: users with their quota and certificate DNs, groups with theirs, and the
transfer history (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest

from datahost_server.models import CertificateDN, GroupQuota, StorageAccount, Transfer


class StorageAccountInline(admin.StackedInline):
    model = StorageAccount
    can_delete = False
    verbose_name_plural = "DataHost storage"


class CertificateDNInline(admin.TabularInline):
    model = CertificateDN
    extra = 1


class DataHostUserAdmin(UserAdmin):
    inlines = [StorageAccountInline, CertificateDNInline]


class GroupQuotaInline(admin.StackedInline):
    model = GroupQuota
    can_delete = True
    verbose_name_plural = "DataHost quota"


class DataHostGroupAdmin(GroupAdmin):
    inlines = [GroupQuotaInline]


@admin.register(CertificateDN)
class CertificateDNAdmin(admin.ModelAdmin):
    list_display = ("dn", "user")
    search_fields = ("dn", "user__username")


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = ("created", "user", "kind", "name", "state", "bytes", "seconds", "auth")
    list_filter = ("kind", "state", "auth")
    search_fields = ("name", "user__username", "url")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(User)
admin.site.register(User, DataHostUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, DataHostGroupAdmin)
