"""Django settings for faceweb, read from the environment (documented in README.md).

Importing them has no side effect: nothing is started or written. Without
``DATABASE_URL`` / ``REDIS_URL`` (and with ``FACEWEB_EMBEDDED`` on, the default only with
``DEBUG``) they point at the embedded PostgreSQL+pgvector and Redis under
``FACEWEB_DATA_DIR``, which ``make run``, ``manage.py devserver``, the test fixtures and
``python -m faceweb.embedded start`` start (``faceweb/embedded.py``). Production sets both
URLs, ``SECRET_KEY`` and ``DEBUG=0``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

from faceweb import embedded

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def database_from_url(url: str) -> dict:
    """``postgresql://user:pass@host:port/name?host=/socket/dir`` to a Django DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgresql:// URL, not {parsed.scheme!r}")
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    return {
        # Django's PostgreSQL backend, plus the access log's append at commit (recognition/audit.py).
        "ENGINE": "faceweb.dbbackend",
        "NAME": unquote(parsed.path.lstrip("/")) or "faceweb",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": query.pop("host", None) or parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": query,
        "TEST": {"NAME": "test_faceweb"},
    }


DEBUG = env_bool("DEBUG", False)
EMBEDDED_SERVICES = not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
DATA_DIR = embedded.default_data_dir()

if EMBEDDED_SERVICES and not env_bool("FACEWEB_EMBEDDED", DEBUG):
    raise ImproperlyConfigured("Set DATABASE_URL and REDIS_URL (or, for development, DEBUG=1 or "
                               "FACEWEB_EMBEDDED=1 to use the embedded services: `make services`).")
# Only where they are; starting them is `python -m faceweb.embedded start`'s job.
_embedded_urls = embedded.service_urls(DATA_DIR) if EMBEDDED_SERVICES else None

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        # It signs sessions, CSRF tokens and erasure receipts: a published default would let
        # anyone forge them.
        raise ImproperlyConfigured("SECRET_KEY must be set (it may be left out only with DEBUG=1).")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

# Proxies (addresses or CIDR networks) whose X-Forwarded-For/-Proto are believed; from anyone
# else they are ignored (recognition/client.py; gunicorn's forwarded_allow_ips is the same list).
TRUSTED_PROXIES = [p.strip() for p in os.environ.get("TRUSTED_PROXIES", "").split(",") if p.strip()]

# The access log's keys (docs/compliance.md, "Keys"). Both must be set unless DEBUG: published
# defaults would let anyone rebuild the log's HMACs or sign checkpoints.


def _audit_secret(name: str, dev_default: str) -> str:
    value = os.environ.get(name, "").strip()
    path = os.environ.get(f"{name}_FILE", "").strip()  # e.g. a Docker secret
    if not value and path:
        value = Path(path).read_text(encoding="utf-8").strip()
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set (generate keys: `manage.py audit_keys --generate`).")
    return dev_default


AUDIT_HMAC_KEY = _audit_secret("AUDIT_HMAC_KEY", "faceweb-dev-only-audit-hmac-key-never-in-production")
if len(AUDIT_HMAC_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_HMAC_KEY must be at least 32 characters.")
if AUDIT_HMAC_KEY == SECRET_KEY:
    raise ImproperlyConfigured("AUDIT_HMAC_KEY must not be SECRET_KEY: they are kept and rotated apart.")


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


# Earlier HMAC keys, kept to verify the entries they keyed; fingerprints of keys that are lost.
AUDIT_HMAC_OLD_KEYS = env_list("AUDIT_HMAC_OLD_KEYS")
AUDIT_HMAC_LOST_FINGERPRINTS = env_list("AUDIT_HMAC_LOST_FINGERPRINTS")
# Ed25519 private key (base64 of its 32-byte seed); its public half is given to auditors.
AUDIT_SIGNING_KEY = _audit_secret("AUDIT_SIGNING_KEY", "g5eNN8ux0De4Gmrsu6m4ZWik1Ja1gcGZIdK25AREjIY=")
# Earlier public keys (base64), whose checkpoints and exports still verify after a rotation.
AUDIT_VERIFY_KEYS = env_list("AUDIT_VERIFY_KEYS")
# Signed checkpoints live outside the database, where its roles cannot write.
AUDIT_CHECKPOINT_DIR = Path(os.environ.get("AUDIT_CHECKPOINT_DIR", DATA_DIR / "audit-checkpoints")).resolve()
AUDIT_CHECKPOINT_INTERVAL_S = env_float("AUDIT_CHECKPOINT_INTERVAL_S", 60.0)
AUDIT_UPLOAD_MAX_BYTES = env_int("AUDIT_UPLOAD_MAX_BYTES", 2 * 1024**3)  # an export checked on the web page

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # before "recognition": its failed-sign-in count is set when ours reads it
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "recognition",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "recognition.middleware.RequestIdMiddleware",
    "recognition.middleware.DomainErrorMiddleware",
    "recognition.middleware.ContentSecurityPolicyMiddleware",
    "recognition.outage.OutageMiddleware",
    "axes.middleware.AxesMiddleware",  # last: the lockout page for a refused sign-in
]

ROOT_URLCONF = "faceweb.urls"
WSGI_APPLICATION = "faceweb.wsgi.application"
ASGI_APPLICATION = "faceweb.asgi.application"

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
                "recognition.context_processors.roles",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL") or _embedded_urls.database_url)}
# Least privilege (recognition/dbroles.py): the web app and workers connect as DB_APP_ROLE, which
# may only INSERT into the access log; migrations and maintenance (VACUUM FULL after an erasure)
# connect as the owner, DATABASE_OWNER_URL, which only the migrate step and the maintenance worker hold.
# The embedded database has both roles too (faceweb/embedded.py, FACEWEB_EMBEDDED_ROLE).
# (As the cluster's superuser, for tests and benchmarks, there is one role: no split.)
_embedded_split = (_embedded_urls is not None and not os.environ.get("DATABASE_URL")
                   and embedded.embedded_role() != "superuser")
DATABASE_OWNER_URL = os.environ.get("DATABASE_OWNER_URL") or (
    _embedded_urls.owner_url if _embedded_split else "")
DB_APP_ROLE = os.environ.get("DB_APP_ROLE") or (embedded.APP_ROLE if _embedded_split else "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REDIS_URL = os.environ.get("REDIS_URL") or _embedded_urls.redis_url

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes, docs/operations.md): after LOGIN_FAILURE_LIMIT failures for
# one account (from anywhere) or from one client address (any account), sign-ins are refused,
# the right password included, for LOGIN_LOCKOUT_MINUTES. Covers every form that calls
# authenticate(): the site's and the admin's login. Counted in the database.
AUTHENTICATION_BACKENDS = [
    "recognition.auth_backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 30)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per account, per address
AXES_CLIENT_IP_CALLABLE = "recognition.client.client_ip"  # the one client address, proxies included
AXES_RESET_ON_SUCCESS = True
# A fixed lock period: attempts while locked out are refused and not counted, so an attacker
# cannot stretch the lock period by trying on.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the access log already
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Biometric files live in a private folder that no URL maps to: they are served only
# by views that check the role and write the access log.
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT", DATA_DIR / "private")).resolve()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": PRIVATE_STORAGE_ROOT, "base_url": None}},
    "private": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": PRIVATE_STORAGE_ROOT, "base_url": None,
                            "file_permissions_mode": 0o600, "directory_permissions_mode": 0o700}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
                    if not DEBUG else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = None  # nothing is published as media
MEDIA_URL = "/_no-media-is-published/"  # never served; Django's test server needs a non-empty prefix

# Upload limits (checked before any pixel is decoded).
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
# API calls that wait for a worker (identify, verify) answer 202 with a status URL at once;
# ``?wait=`` holds the request (one gunicorn thread) at most this long. Verification results
# are kept this long for the client to poll.
API_MAX_WAIT_S = env_int("API_MAX_WAIT_S", 10)
VERIFY_KEEP_S = env_int("VERIFY_KEEP_S", 600)
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 40_000_000)
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 50)
# Refused at upload rather than in a worker: sides more than this ratio apart, and damaged or
# truncated files (JPEGs decoded at 1/8 scale; other formats fully up to this many pixels).
UPLOAD_MAX_ASPECT_RATIO = env_float("UPLOAD_MAX_ASPECT_RATIO", 100.0)
UPLOAD_FULL_DECODE_MAX_PIXELS = env_int("UPLOAD_FULL_DECODE_MAX_PIXELS", 8_000_000)
# Whole request bodies: a declared Content-Length above this is answered 413 before the body
# is read (faceweb/wsgi.py); put the same limit in the proxy in front (docs/operations.md).
REQUEST_MAX_BYTES = env_int("REQUEST_MAX_BYTES", 100 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # form fields other than files
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Each file is counted while it streams in; past UPLOAD_MAX_BYTES the rest is not read.
FILE_UPLOAD_HANDLERS = [
    "recognition.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES

# Recognition
MODEL_CACHE_DIR = Path(os.environ.get("FACEWEB_MODEL_CACHE", DATA_DIR / "models")).resolve()
MATCH_THRESHOLD = env_float("MATCH_THRESHOLD", 0.6)
MATCH_TOP_K = env_int("MATCH_TOP_K", 3)
CONSENT_VALIDITY_DAYS = env_int("CONSENT_VALIDITY_DAYS", 365)
# Abuse signals (docs/rules.md): identify requests per uploader in any 24 h (0: no quota), and the
# auditors' abuse view: its window and the daily rates over which an uploader is flagged.
IDENTIFY_QUOTA_PER_DAY = env_int("IDENTIFY_QUOTA_PER_DAY", 200)
ABUSE_WINDOW_DAYS = env_int("ABUSE_WINDOW_DAYS", 7)
ABUSE_FLAG_IDENTIFY_PER_DAY = env_int("ABUSE_FLAG_IDENTIFY_PER_DAY", 50)
ABUSE_FLAG_PEOPLE_PER_DAY = env_int("ABUSE_FLAG_PEOPLE_PER_DAY", 10)
STUCK_PHOTO_AFTER_S = env_int("STUCK_PHOTO_AFTER_S", 600)
# Erasure rewrites the biometric tables (VACUUM FULL) so no deleted row stays in their files;
# plain VACUUM is faster on huge galleries but leaves bytes until pages are reused.
ERASURE_VACUUM_FULL = env_bool("ERASURE_VACUUM_FULL", True)
# Identification is proposed only within a threshold calibrated for this false-positive
# identification rate at the current gallery size (recognition/services/decision.py);
# MATCH_THRESHOLD above is its ceiling. See docs/search.md.
TARGET_FPIR = env_float("TARGET_FPIR", 0.01)
MATCH_TAIL_SCALE = env_float("MATCH_TAIL_SCALE", 1.04)  # real faces' thicker impostor tail (docs/search.md)
GALLERY_SIZE_CACHE_S = env_int("GALLERY_SIZE_CACHE_S", 60)
# HNSW search (index m/ef_construction are in the migration); measured in docs/search.md.
# hnsw.ef_search by gallery size (matchable faces): "up to N faces:ef_search" pairs, the last
# pair also used above its size; chosen from the measured table in docs/search.md.
# HNSW_EF_SEARCH, when set, replaces the table with one constant.
HNSW_EF_SEARCH_BY_SIZE = os.environ.get("HNSW_EF_SEARCH_BY_SIZE", "200000:125,300000:150,1000000:200")
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 0) or None
HNSW_ITERATIVE_SCAN = os.environ.get("HNSW_ITERATIVE_SCAN", "relaxed_order")
IVFFLAT_PROBES = env_int("IVFFLAT_PROBES", 40)  # used only if the index is switched to IVFFlat

# Security
# HTTPS=1: the site is served over TLS, by gunicorn itself or behind a proxy in
# TRUSTED_PROXIES that sends X-Forwarded-Proto (gunicorn trusts it only from those).
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container's own health check speaks plain HTTP
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * 24 * 3600) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", HTTPS or (not DEBUG and not EMBEDDED_SERVICES))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Scripts, styles, images and fonts from this site only; no inline code, no frames, forms
# post here only. The API docs (Swagger UI, Redoc) get a looser style-src: they inject styles.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
API_DOCS_CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; "
                                    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                                    "font-src 'self' data:; connect-src 'self'; "
                                    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
                                    "form-action 'self'; frame-ancestors 'none'")
# Preloading (W021) is a commitment to browser vendors that only the operator can make:
# HSTS_PRELOAD=1 opts in.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Celery: work that must not be lost.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a task killed mid-way is redelivered
# Nothing reads most task results; storing them would make every send wait on Redis when it is
# down. Tasks whose result is read (ping, the API's synchronous calls) opt back in.
CELERY_TASK_IGNORE_RESULT = True
# Celery 6 changes this default; keep today's behaviour: the running photo finishes and its
# redelivered copy finds nothing to do.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("CELERY_WORKER_MAX_TASKS_PER_CHILD", 500)
CELERY_TIMEZONE = "UTC"
# The table rewrite after an erasure needs the owner: in production it goes to a worker that alone
# holds DATABASE_OWNER_URL (docker/compose.yaml, "maintenance"); by default, to the one queue.
MAINTENANCE_QUEUE = os.environ.get("MAINTENANCE_QUEUE", "celery")
CELERY_TASK_ROUTES = {"recognition.tasks.vacuum_biometric_tables": {"queue": MAINTENANCE_QUEUE}}
# /healthz: each worker writes a heartbeat to Redis this often; each web process reuses its
# answer this long (faceweb/health.py). Anonymous probes never broadcast to the workers.
WORKER_HEARTBEAT_S = env_int("WORKER_HEARTBEAT_S", 10)
HEALTHZ_CACHE_S = env_int("HEALTHZ_CACHE_S", 5)
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-photos": {"task": "recognition.tasks.sweep_stuck_photos", "schedule": 60.0},
    # Retention (docs/compliance.md): purge unknown faces and erase people past their date.
    "apply-retention": {"task": "recognition.tasks.apply_retention",
                        "schedule": float(env_int("RETENTION_INTERVAL_S", 24 * 3600))},
    # A signed checkpoint of the access log (recognition/checkpoints.py).
    "audit-checkpoint": {"task": "recognition.tasks.audit_checkpoint",
                         "schedule": AUDIT_CHECKPOINT_INTERVAL_S},
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "recognition.api.schema.ApiAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "recognition.api.authentication.ApiTokenAuthentication",  # first: anonymous calls get 401
        "rest_framework.authentication.SessionAuthentication",  # the browsable docs, with CSRF
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["recognition.api.parsers.StrictJSONParser",
                               "rest_framework.parsers.MultiPartParser", "rest_framework.parsers.FormParser"],
    "DEFAULT_THROTTLE_CLASSES": ["recognition.api.throttling.TokenRateThrottle"],
    # Per token (or signed-in user), and per address for anonymous calls.
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("API_RATE_TOKEN", "600/min"),
                               "anon": os.environ.get("API_RATE_ANON", "60/min")},
    "EXCEPTION_HANDLER": "recognition.api.exceptions.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "faceweb API",
    "DESCRIPTION": "Consent, photos, identification, verification, review, audit and erasure. "
                   "Authenticate with `Authorization: Token <key>` (tokens: /api/v1/tokens/manage/).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI and Redoc assets are served from our static files (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"PhotoStatusEnum": "recognition.models.Photo.Status",
                            "IdentificationStatusEnum": "recognition.models.Identification.Status",
                            "PurposeEnum": "recognition.models.Photo.Purpose",
                            "VerificationStatusEnum": [("pending", "pending"), ("done", "done")]},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # axes: failures and lockouts are warnings; its per-sign-in INFO lines are noise.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
