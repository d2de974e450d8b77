"""Django settings for Guichet. Everything an operator may change comes from the environment."""

from pathlib import Path

import dj_database_url
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from guichet.config import env_bool, env_int, env_list, env_secret, env_str, local_secret

SRC_DIR = Path(__file__).resolve().parent
BASE_DIR = SRC_DIR.parent.parent
VAR_DIR = Path(env_str("GUICHET_VAR_DIR", str(BASE_DIR / "var"))).resolve()
# SQLite cannot create its file in a missing folder, and an operator who sets the secret key from
# the environment would otherwise meet "unable to open database file". 0700: it holds the
# database, the secret key and citizens' attachments.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

DEBUG = env_bool("GUICHET_DEBUG", False)
SECRET_KEY = env_secret("GUICHET_SECRET_KEY") or local_secret(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("GUICHET_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("GUICHET_CSRF_TRUSTED_ORIGINS", "")
SITE_URL = env_str("GUICHET_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "ninja",
    "guichet.identity",
    "guichet.catalog",
    "guichet.dossiers",
    "guichet.vault",
    "guichet.audit",
    "guichet.documents",
]

MIDDLEWARE = [
    "guichet.middleware.RequestIdMiddleware",
    "guichet.middleware.LoadSheddingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "guichet.middleware.NulCookieMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "guichet.identity.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "guichet.middleware.NulRefusingMiddleware",
    "guichet.identity.middleware.AgentMfaMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "guichet.urls"
WSGI_APPLICATION = "guichet.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [SRC_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "guichet.identity.context.agent_context",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'guichet.sqlite3'}"),
        conn_max_age=env_int("GUICHET_DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; synchronous=FULL makes every acknowledged commit
    # survive a power cut; IMMEDIATE transactions take the write lock up front so two writers
    # queue on busy_timeout instead of failing half-way with "database is locked". Connections
    # are kept between requests as on PostgreSQL: a new one re-reads the schema and re-prepares
    # every statement: about 1.4 ms of CPU a request. The backend is Django's, with this
    # process's writers queued in turn (guichet/sqlite_backend/base.py says why). Every web
    # thread keeps its own connection (44 a worker), so each gets a 512 KiB page cache instead
    # of SQLite's 2 MiB: the file's pages stay in the kernel's cache, shared by all of them, and
    # a worker's memory stays bounded whatever the number of threads that served a request.
    DATABASES["default"]["ENGINE"] = "guichet.sqlite_backend"
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL;PRAGMA foreign_keys=ON;"
            "PRAGMA busy_timeout=20000;PRAGMA cache_size=-512;"
        ),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A query or a lock wait that runs this long is a fault, not work: end it, so a stuck request
    # releases its connection and its worker under a peak (0 turns a limit off).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c statement_timeout={env_int('GUICHET_DB_STATEMENT_TIMEOUT_MS', 30000)} "
        f"-c lock_timeout={env_int('GUICHET_DB_LOCK_TIMEOUT_MS', 10000)}"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Load shedding (guichet/middleware.py) ------------------------------------------------------
# Per server process: requests at work at once, how many may wait for a slot and for how long;
# the rest get 503 with Retry-After. 0 in-flight turns shedding off. /healthz is never shed.
GUICHET_MAX_INFLIGHT = env_int("GUICHET_MAX_INFLIGHT", 4)
GUICHET_MAX_QUEUED = env_int("GUICHET_MAX_QUEUED", 32)
GUICHET_QUEUE_WAIT_MS = env_int("GUICHET_QUEUE_WAIT_MS", 500)
GUICHET_RETRY_AFTER_SECONDS = env_int("GUICHET_RETRY_AFTER_SECONDS", 5)
# Count the queue wait from the proxy's X-Request-Start stamp (only behind a proxy that sets it,
# with clocks in step): time queued in the proxy and in granian then counts too.
GUICHET_TRUST_REQUEST_START = env_bool("GUICHET_TRUST_REQUEST_START", False)
# Adds /bench/insert (one durable INSERT, the baseline of bench/submission_load.py). Only for a
# benchmark instance: never set it in production.
GUICHET_BENCH_ENDPOINTS = env_bool("GUICHET_BENCH_ENDPOINTS", False)

# A cache every server process shares: login throttling and TOTP replay protection must hold
# across workers, which a per-process memory cache would not.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": env_str("GUICHET_CACHE_DIR", str(VAR_DIR / "cache")),
    }
}

# --- Accounts -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if env_bool("GUICHET_SECURE", False) else "http"
# Failed logins: 5 per minute per IP and 5 per 5 minutes per account before a lock-out page.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("GUICHET_LOGIN_FAILED_LIMIT", "5/m/ip,5/5m/key"),
    "signup": "20/m/ip",
}
ACCOUNT_ADAPTER = "guichet.identity.adapters.AccountAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env_str("GUICHET_MFA_ISSUER", "Guichet")
# Accept the previous and next 30-second code too: agents' phones drift, and a code typed as it
# rolls over must not lock them out. Replay of a used code is still refused (shared cache).
MFA_TOTP_TOLERANCE = 1
NATIONAL_ID_PATTERN = env_str("GUICHET_NATIONAL_ID_PATTERN", r"^[12]\d{12}$")

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [SRC_DIR / "locale"]
TIME_ZONE = env_str("GUICHET_TIME_ZONE", "Africa/Dakar")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# The site-wide CSS lives beside the project templates, outside any app: collectstatic must look
# there too, or the hashed manifest lacks it and every page fails without DEBUG.
STATICFILES_DIRS = [SRC_DIR / "static"]
STORAGES = {
    # Attachments live outside the web root and are only served by views that check access.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "files"), "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "files"
GUICHET_MAX_UPLOAD_BYTES = env_int("GUICHET_MAX_UPLOAD_MB", 10) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
GUICHET_NUMBER_PREFIX = env_str("GUICHET_NUMBER_PREFIX", "SN")

# --- Data vault (envelope encryption of personal data) -----------------------------------------
GUICHET_KEY_PROVIDER = env_str("GUICHET_KEY_PROVIDER", "local")
GUICHET_VAULT_KEYS_DIR = env_str("GUICHET_VAULT_KEYS_DIR", str(VAR_DIR / "keys"))
GUICHET_VAULT_CACHE_SECONDS = env_int("GUICHET_VAULT_CACHE_SECONDS", 60)
GUICHET_VAULT_CACHE_SIZE = env_int("GUICHET_VAULT_CACHE_SIZE", 4096)
GUICHET_PHONE_COUNTRY_CODE = env_str("GUICHET_PHONE_COUNTRY_CODE", "221")
# Retention (law 2008-12): applicants are warned this many days before an erasure, and drafts
# left untouched this long are erased (`guichet retention run`, daily).
GUICHET_RETENTION_NOTICE_DAYS = env_int("GUICHET_RETENTION_NOTICE_DAYS", 30)
GUICHET_DRAFT_RETENTION_DAYS = env_int("GUICHET_DRAFT_RETENTION_DAYS", 180)
GUICHET_PKCS11_MODULE = env_str("GUICHET_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
GUICHET_PKCS11_TOKEN_LABEL = env_str("GUICHET_PKCS11_TOKEN_LABEL", "guichet")
GUICHET_PKCS11_PIN = env_secret("GUICHET_PKCS11_PIN")
GUICHET_PKCS11_KEY_PREFIX = env_str("GUICHET_PKCS11_KEY_PREFIX", "guichet-kek")
GUICHET_TRANSIT_URL = env_str("GUICHET_TRANSIT_URL", "") or None
GUICHET_TRANSIT_TOKEN = env_secret("GUICHET_TRANSIT_TOKEN")
GUICHET_TRANSIT_MOUNT = env_str("GUICHET_TRANSIT_MOUNT", "transit")
GUICHET_TRANSIT_KEY_PREFIX = env_str("GUICHET_TRANSIT_KEY_PREFIX", "guichet-kek")
GUICHET_TRANSIT_CA_FILE = env_str("GUICHET_TRANSIT_CA_FILE", "") or None
GUICHET_TRANSIT_TIMEOUT = env_int("GUICHET_TRANSIT_TIMEOUT", 5)
# Sealed documents: an outside RFC 3161 time-stamping authority (unset: the embedded one), and the
# PEM file of the roots its certificates chain to, which verifiers then trust for time-stamps.
GUICHET_TSA_URL = env_str("GUICHET_TSA_URL", "") or None
GUICHET_TSA_TIMEOUT = env_int("GUICHET_TSA_TIMEOUT", 10)
GUICHET_TSA_TRUST_ROOTS = env_str("GUICHET_TSA_TRUST_ROOTS", "") or None

# --- Transparency log and security alerts -----------------------------------------------------
GUICHET_AUDIT_ORIGIN = env_str("GUICHET_AUDIT_ORIGIN", "")
GUICHET_AUDIT_KEY_FILE = env_str(
    "GUICHET_AUDIT_KEY_FILE", str(VAR_DIR / "keys" / "audit-ed25519.key")
)
# Where the log's Ed25519 key lives: "local" (the file above) or "pkcs11" (the vault's HSM token,
# key pair labelled GUICHET_AUDIT_KEY_LABEL). Chosen once, before the first checkpoint.
GUICHET_AUDIT_KEY_PROVIDER = env_str("GUICHET_AUDIT_KEY_PROVIDER", "local")
GUICHET_AUDIT_KEY_LABEL = env_str("GUICHET_AUDIT_KEY_LABEL", "guichet-audit-log")
GUICHET_AUDIT_CHECKPOINT_EVENTS = env_int("GUICHET_AUDIT_CHECKPOINT_EVENTS", 1000)
GUICHET_AUDIT_CHECKPOINT_SECONDS = env_int("GUICHET_AUDIT_CHECKPOINT_SECONDS", 60)
GUICHET_AUDIT_SHOW_AGENT_NAMES = env_bool("GUICHET_AUDIT_SHOW_AGENT_NAMES", False)
# An agent opening this many applications not assigned to them, or taking this many items out
# (files, exported dossiers), within the window raises an alert; 0 turns a rule off. Reads
# outside the working hours and days (ISO weekdays, 1 = Monday) raise one too; "" turns it off.
GUICHET_ALERT_WINDOW_SECONDS = env_int("GUICHET_ALERT_WINDOW_SECONDS", 600)
GUICHET_ALERT_UNASSIGNED_OPENINGS = env_int("GUICHET_ALERT_UNASSIGNED_OPENINGS", 20)
GUICHET_ALERT_EXPORT_ITEMS = env_int("GUICHET_ALERT_EXPORT_ITEMS", 50)
GUICHET_ALERT_WORKING_HOURS = env_str("GUICHET_ALERT_WORKING_HOURS", "07:00-19:00")
GUICHET_ALERT_WORKING_DAYS = env_str("GUICHET_ALERT_WORKING_DAYS", "1-5")
GUICHET_ALERT_TIME_ZONE = env_str("GUICHET_ALERT_TIME_ZONE", "Africa/Dakar")

# --- Residency: where personal data may live and travel ----------------------------------------
# Hosts (names, *.domain, IPs, networks) that may receive data, and directories that may store
# it. A start-up check refuses a database, mail relay, key service or storage outside them, and
# at run time Python code cannot open a connection to an unlisted address.
GUICHET_RESIDENCY_HOSTS = env_list("GUICHET_RESIDENCY_HOSTS", "127.0.0.1,localhost,::1")
GUICHET_RESIDENCY_PATHS = env_list("GUICHET_RESIDENCY_PATHS", str(VAR_DIR))
GUICHET_RESIDENCY_ENFORCE = env_bool("GUICHET_RESIDENCY_ENFORCE", True)
GUICHET_BACKUP_DIR = env_str("GUICHET_BACKUP_DIR", str(VAR_DIR / "backups"))

# --- Email and background tasks -----------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("GUICHET_FROM_EMAIL", "Guichet <no-reply@guichet.localhost>")
if env_str("EMAIL_HOST", ""):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("EMAIL_HOST", ""),
                "port": env_int("EMAIL_PORT", 587),
                "username": env_str("EMAIL_HOST_USER", ""),
                "password": env_secret("EMAIL_HOST_PASSWORD") or "",
                "use_tls": env_bool("EMAIL_USE_TLS", True),
                "timeout": 30,
            },
        }
    }
else:
    # Embedded default: every email is written as a file under var/mail, nothing leaves the box.
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(VAR_DIR / "mail")},
        }
    }

TASKS = {
    "default": {
        "BACKEND": (
            "django.tasks.backends.immediate.ImmediateBackend"
            if env_str("GUICHET_TASKS", "db") == "immediate"
            else "django_tasks_db.DatabaseBackend"
        )
    }
}

# --- Security -----------------------------------------------------------------------------------
SECURE = env_bool("GUICHET_SECURE", False)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE
SECURE_HSTS_SECONDS = 31536000 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE else None
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("GUICHET_SESSION_SECONDS", 8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "guichet.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "guichet.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": env_str("GUICHET_LOG_FORMAT", "json"),
        }
    },
    "root": {"handlers": ["console"], "level": env_str("GUICHET_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
