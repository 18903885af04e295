"""The DataHost's URLs: the 2010 protocol's paths under /datahost/, the pages and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path

from datahost_server.views import account, files, pages, pulling, transmit


def _home(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect("/datahost/")


admin.site.site_header = "DataHost administration"
admin.site.site_title = "DataHost"

urlpatterns = [
    path("", _home),
    path("datahost/", pages.index, name="index"),
    path("datahost/login/", account.login_view, name="login"),
    path("datahost/logout/", account.logout_view, name="logout"),
    path("datahost/whoami/", account.whoami, name="whoami"),
    path("datahost/list/", files.list_files, name="list"),
    path("datahost/transmit/", transmit.transmit, name="transmit"),
    path("datahost/receive/<str:name>", files.receive, name="receive"),
    path("datahost/receive/", files.receive_by_query, name="receive-query"),
    path("datahost/delete/", files.delete, name="delete"),
    path("datahost/rename/", files.rename, name="rename"),
    path("datahost/history/", files.history, name="history"),
    path("datahost/pull/", pulling.pull, name="pull"),
    path("datahost/pulls/", pulling.pull_list, name="pulls"),
    path("datahost/pulls/<int:pull_id>", pulling.pull_status, name="pull-status"),
    path("datahost/admin/", admin.site.urls),
]

handler400 = "datahost_server.answers.bad_request"
handler404 = "datahost_server.answers.not_found"
