"""The WSGI application mod_wsgi runs. Each instance's ``conf/datahost.wsgi`` sets
DATAHOST_CONFIG and imports ``application`` from here.

On start, before serving: temporary files and pulls left by a process that died are cleaned up.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datahost_server.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()


def _recover() -> None:
    from datahost_server import pulls, storage

    try:
        storage.sweep_orphans(at_startup=True)
        pulls.recover_interrupted()
    except Exception:  # recovery must never keep the server from serving
        logging.getLogger("datahost_server").exception("recovery at start-up failed")


_recover()
