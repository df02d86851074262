"""Settings, read only from environment variables (documented in `.env.example`).

With nothing configured the site runs embedded: SQLite and a filesystem Celery
broker under `var/`. Production points DATABASE_URL at PostgreSQL and
CELERY_BROKER_URL at Redis.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dj_database_url

from relevance_site.envvars import (
    ConfigurationError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    valid_ml_device,
    valid_url_scheme,
)

BASE_DIR = Path(__file__).resolve().parent.parent


def _settings() -> dict[str, object]:
    debug = env_bool("DJANGO_DEBUG", True)
    secret_key = env_str("DJANGO_SECRET_KEY")
    if not secret_key:
        if not debug:
            raise ConfigurationError("DJANGO_SECRET_KEY is required when DJANGO_DEBUG=false")
        secret_key = "insecure-development-key-only-for-DJANGO_DEBUG-true"  # noqa: S105
    var_dir = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()
    database_url = env_choice(
        "DATABASE_URL",
        f"sqlite:///{var_dir / 'db.sqlite3'}",
        valid_url_scheme("sqlite", "postgres", "postgresql", "pgsql"),
        "sqlite:///PATH or postgres://USER@HOST:PORT/NAME",
    )
    broker_url = env_choice(
        "CELERY_BROKER_URL",
        "filesystem://",
        valid_url_scheme("filesystem", "redis", "rediss", "amqp", "sqla+sqlite", "sqla+postgresql"),
        "filesystem://, redis://HOST:PORT/DB or amqp://...",
    )
    return {
        "debug": debug,
        "secret_key": secret_key,
        "var_dir": var_dir,
        "database": dj_database_url.parse(database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, 0)),
        "broker_url": broker_url,
        "ml_device": env_choice("ML_DEVICE", "auto", valid_ml_device, "auto, cpu, cuda, cuda:N or mps"),
    }


try:
    _S = _settings()
except ConfigurationError as error:
    # A clear one-line message instead of a traceback deep inside Django's setup.
    sys.stderr.write(f"Configuration error: {error}\n")
    raise SystemExit(2) from None

DEBUG: bool = _S["debug"]  # type: ignore[assignment]
SECRET_KEY: str = _S["secret_key"]  # type: ignore[assignment]
VAR_DIR: Path = _S["var_dir"]  # type: ignore[assignment]
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "relevance_site.admin_site.StudioAdminConfig",  # django.contrib.admin with the import page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "annotation",
    "modeling",
    "evaluation",
    "relevance_site",
]

MIDDLEWARE = [
    "relevance_site.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "relevance_site.urls"
WSGI_APPLICATION = "relevance_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {"default": _S["database"]}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded mode has a web server and a worker writing to one file: wait for
    # the lock instead of failing, and let readers work while a writer commits.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploads above this stay on disk, so importing a large file never holds it in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# Machine-learning artifacts and the default backbone live outside the database.
ARTIFACTS_DIR = Path(env_str("ARTIFACTS_DIR", str(VAR_DIR / "artifacts")))
BACKBONE_DIR = Path(env_str("BACKBONE_DIR", str(VAR_DIR / "models" / "me5-small")))
ML_DEVICE: str = _S["ml_device"]  # type: ignore[assignment]
# A BLIP-class image-to-text folder for Pin captions; empty (the default) disables captioning.
_caption_model_dir = env_str("CAPTION_MODEL_DIR").strip()
CAPTION_MODEL_DIR: Path | None = Path(_caption_model_dir) if _caption_model_dir else None

# Celery: status lives in Run rows, so no result backend is needed.
CELERY_BROKER_URL: str = _S["broker_url"]  # type: ignore[assignment]
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Broadcast (remote-control) messages; kombu's default is a folder in the current directory.
        "control_folder": str(_broker_dir / "control"),
    }
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a killed worker's task is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"modeling.tasks.*": {"queue": "gpu"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's TokenAuthentication, one query instead of an ORM join compiled per request.
        "annotation.authentication.OneQueryTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # `format` is taken by DRF's content negotiation; exports use `file_format`.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Relevance Studio API",
    "DESCRIPTION": "Import pairs, export labels, browse queries, pins and pairs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are for signed-in people and services, like the API itself.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Pair.label and Judgment.level share the 1–5 scale: one enum in the schema.
    "ENUM_NAME_OVERRIDES": {"LevelEnum": "annotation.models.Level"},
}

if not DEBUG:
    _https = env_bool("DJANGO_HTTPS", True)
    SECURE_SSL_REDIRECT = _https
    SESSION_COOKIE_SECURE = _https
    CSRF_COOKIE_SECURE = _https
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if _https else 0, 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
    SECURE_HSTS_PRELOAD = _https
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
}
