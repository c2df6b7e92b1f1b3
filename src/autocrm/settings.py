"""AutoCRM settings, read from the environment so one code base serves a single shop PC
(SQLite, huey on SQLite) and a scaled-out chain (PostgreSQL, huey on Redis)."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = Path(os.environ.get("AUTOCRM_HOME", BASE_DIR.parent.parent)).resolve()
VAR_DIR = Path(os.environ.get("AUTOCRM_VAR", PROJECT_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """SECRET_KEY from the environment, else generated once into var/ (never committed)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("AUTOCRM_DEBUG", False)
TESTING = env_bool("AUTOCRM_TESTING", False)
HTTPS = env_bool("AUTOCRM_HTTPS", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
    "ninja",
    "huey.contrib.djhuey",
    "autocrm.core",
    "autocrm.customers",
    "autocrm.imports",
    "autocrm.catalog",
    "autocrm.workflow",
    "autocrm.service",
    "autocrm.feedback",
    "autocrm.messaging",
    "autocrm.automation",
    "autocrm.portal",
    "autocrm.printing",
    "autocrm.reports",
]

MIDDLEWARE = [
    "autocrm.core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "autocrm.core.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "autocrm.core.middleware.SessionRefreshMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "autocrm.core.middleware.AuditContextMiddleware",
    "autocrm.core.middleware.ServiceErrorMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "autocrm.urls"
WSGI_APPLICATION = "autocrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "autocrm.core.context_processors.navigation",
            ],
        },
    }
]
if not DEBUG:
    TEMPLATES[0]["APP_DIRS"] = False
    TEMPLATES[0]["OPTIONS"]["loaders"] = [
        (
            "django.template.loaders.cached.Loader",
            [
                "django.template.loaders.filesystem.Loader",
                "django.template.loaders.app_directories.Loader",
            ],
        )
    ]

# Database: embedded SQLite in WAL mode by default; PostgreSQL (any dj-database-url) when set.
DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'autocrm.sqlite3'}"
DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_SQLITE)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Persistent per-thread connections: opening one (and its PRAGMAs) per request cost ~1 ms.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA foreign_keys=ON;"
            "PRAGMA busy_timeout=20000;"
            "PRAGMA temp_store=MEMORY;"
            "PRAGMA mmap_size=134217728;"
            "PRAGMA cache_size=-20000;"
        ),
    }
    # one file per test process, so two test runs on one checkout never share a database
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "autocrm.core.backends.StaffBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions: expire after a working day of inactivity; every signed-in request moves the expiry
# forward (core.middleware.SessionRefreshMiddleware: saved at most once per
# SESSION_REFRESH_SECONDS rather than on every request, which would write to the database on
# every page view).
SESSION_COOKIE_AGE = int(os.environ.get("AUTOCRM_SESSION_SECONDS", 8 * 3600))
SESSION_SAVE_EVERY_REQUEST = False
SESSION_REFRESH_SECONDS = 300
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"

# Login throttling (django-axes): lock a username from an address after repeated failures.
AXES_FAILURE_LIMIT = int(os.environ.get("AUTOCRM_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AUTOCRM_LOCKOUT_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "autocrm.core.views.lockout_response"
AXES_VERBOSE = False

# Security headers. HTTPS hardening switches on with AUTOCRM_HTTPS=1 (behind TLS).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("AUTOCRM_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("AUTOCRM_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)

# The address car owners reach this server at: links in their text messages are absolute.
AUTOCRM_PUBLIC_URL = os.environ.get("AUTOCRM_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

# Email to customers over SMTP (messaging): on when EMAIL_HOST is set. SMS, WeChat and webhook
# providers are configured from the environment too (see autocrm/messaging/conf.py).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", 10))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "AutoCRM <noreply@localhost>")
AUTOCRM_EMAIL_ENABLED = bool(EMAIL_HOST)

# Request bodies: refuse oversized uploads early with a clear message.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("AUTOCRM_MAX_BODY_BYTES", 2 * 1024 * 1024))
AUTOCRM_MAX_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
# Spreadsheet imports: their own, larger limit (the file; its upload page's body may be 1 MB
# more for the form's other fields), checked before the body is read.
AUTOCRM_IMPORT_MAX_MB = float(os.environ.get("AUTOCRM_IMPORT_MAX_MB", 50))
# Shop-floor photos and short videos from the technicians' phones.
AUTOCRM_MEDIA_IMAGE_MB = float(os.environ.get("AUTOCRM_MEDIA_IMAGE_MB", 15))
AUTOCRM_MEDIA_VIDEO_MB = float(os.environ.get("AUTOCRM_MEDIA_VIDEO_MB", 100))
_MEDIA_BODY = int(max(AUTOCRM_MEDIA_IMAGE_MB, AUTOCRM_MEDIA_VIDEO_MB) * 1048576) + 2 * 1048576
# Path prefix (or pattern with *) -> the largest body accepted there.
AUTOCRM_UPLOAD_PATHS = {
    "/imports/upload/": int(AUTOCRM_IMPORT_MAX_MB * 1048576) + 1048576,
    "/floor/results/": _MEDIA_BODY,
    "/floor/wo/*/photos/": _MEDIA_BODY,
    "/api/v1/work-orders/*/media": _MEDIA_BODY,
}
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor", PROJECT_DIR / "build" / "vendor")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"

# Background jobs: huey on SQLite next to the database, or on Redis when REDIS_URL is set.
REDIS_URL = os.environ.get("REDIS_URL", "")
HUEY_IMMEDIATE = env_bool("AUTOCRM_HUEY_IMMEDIATE", TESTING)
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.PriorityRedisHuey",
        "name": os.environ.get("AUTOCRM_QUEUE", "autocrm"),
        "url": REDIS_URL,
        "immediate": HUEY_IMMEDIATE,
        "utc": True,
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "autocrm",
        "filename": str(VAR_DIR / "huey.sqlite3"),
        "immediate": HUEY_IMMEDIATE,
        "utc": True,
    }
if HUEY_IMMEDIATE:
    HUEY = {"huey_class": "huey.MemoryHuey", "name": "autocrm", "immediate": True, "utc": True}
HUEY["consumer"] = {"workers": int(os.environ.get("AUTOCRM_WORKER_THREADS", 2))}
WORKER_STALE_SECONDS = int(os.environ.get("AUTOCRM_WORKER_STALE_SECONDS", 180))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "autocrm.security": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "huey": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
if TESTING:
    LOGGING["loggers"]["huey"]["level"] = "WARNING"
CSRF_FAILURE_VIEW = "autocrm.core.views.csrf_failure"
