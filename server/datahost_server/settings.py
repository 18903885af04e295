"""Django settings of a DataHost instance, derived from its ``datahost.json`` (see config.py).

Production differs from the tests only by that file: PostgreSQL through its ``databases`` key
(or ``$DATAHOST_DATABASES``), the session idle time, quotas, the hosts it answers to.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import django

from datahost_server.config import InstanceConfig

INSTANCE = InstanceConfig.load()


def _secret_key(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise RuntimeError(f"no secret key at {path}: start the instance with datahost-server serve") from None


def _sqlite(instance: InstanceConfig) -> dict[str, Any]:
    # Uploads, pulls and page views write from several threads: wait for the lock, and take it
    # when a transaction starts (Django 5.1+), so two writers never deadlock on an upgrade.
    options: dict[str, Any] = {"timeout": 30}
    if django.VERSION >= (5, 1):
        options["transaction_mode"] = "IMMEDIATE"
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(instance.db_dir / "datahost.sqlite3"),
            "OPTIONS": options,
        }
    }


SECRET_KEY = _secret_key(INSTANCE.secret_key_file)
DEBUG = INSTANCE.debug
ALLOWED_HOSTS = INSTANCE.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "datahost_server",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "datahost_server.urls"
WSGI_APPLICATION = "datahost_server.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = INSTANCE.databases or _sqlite(INSTANCE)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Wrong passwords are throttled per user name and per client address (throttle.py).
AUTHENTICATION_BACKENDS = ["datahost_server.throttle.ThrottledModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# A person's session: idle expiry (measured from the last request, refreshed while an upload
# streams), a cookie that lives as long as the browser, never readable from scripts.
SESSION_COOKIE_NAME = "datahost_session"
SESSION_COOKIE_AGE = INSTANCE.session_idle_seconds
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
CSRF_FAILURE_VIEW = "datahost_server.answers.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS answers tell browsers to use nothing else for a year (this host only: the DataHost does
# not speak for its domain's other hosts).
SECURE_HSTS_SECONDS = 365 * 24 * 3600
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
X_FRAME_OPTIONS = "DENY"

LOGIN_URL = "/datahost/login/"
LOGIN_REDIRECT_URL = "/datahost/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = str(INSTANCE.static_dir)

# Non-file form fields stay small (a larger body is refused with 400). File parts: only
# /datahost/transmit/ takes one, streamed to the user's directory by its own handler; everywhere
# else the default handler refuses them (uploads.py), so Django never spools a body to a
# temporary file. Should anything ever do so, it would be in the instance's run/ directory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1 << 20
FILE_UPLOAD_HANDLERS = ["datahost_server.uploads.RefuseFileParts"]
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
FILE_UPLOAD_TEMP_DIR = str(INSTANCE.run_dir)
FILE_UPLOAD_PERMISSIONS = 0o640

DATAHOST_STORAGE = INSTANCE.storage_dir
DATAHOST_STALE_TEMPORARY_SECONDS = INSTANCE.stale_temporary_seconds
DATAHOST_RUN_DIR = INSTANCE.run_dir
DATAHOST_TRANSFER_LOG = INSTANCE.transfer_log
DATAHOST_DEFAULT_QUOTA = INSTANCE.default_quota_bytes
DATAHOST_PULL_ALLOW_PRIVATE = INSTANCE.pull_allow_private
DATAHOST_PULL_WORKERS = INSTANCE.pull_workers
DATAHOST_LOGIN_WINDOW = INSTANCE.login_window_seconds
DATAHOST_LOGIN_FAILURES_PER_USER = INSTANCE.login_failures_per_user
DATAHOST_LOGIN_FAILURES_PER_ADDRESS = INSTANCE.login_failures_per_address
DATAHOST_PULL_CA_BUNDLE = INSTANCE.pull_ca_bundle or (
    "/etc/ssl/certs/ca-certificates.crt" if os.path.exists("/etc/ssl/certs/ca-certificates.crt") else None
)

# Apache's error log gets warnings; no request body, cookie or certificate is ever logged.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {"datahost_server": {"level": "INFO", "handlers": ["stderr"], "propagate": False}},
}
