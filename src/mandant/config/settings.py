"""Mandant settings. Everything that differs between machines comes from the environment.

``MANDANT_ENV=development`` (default) gives embedded defaults: SQLite, a dev secret key,
``outbox://`` mail. ``MANDANT_ENV=production`` requires ``SECRET_KEY`` and ``ALLOWED_HOSTS``
and turns on every transport-security setting (passes ``manage.py check --deploy``).
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from mandant.config.env import email_settings, env_bool, env_int, env_list, env_str

PACKAGE_DIR = Path(__file__).resolve().parent.parent
BASE_DIR = Path(env_str("MANDANT_HOME", str(Path.cwd())) or ".")
VAR_DIR = BASE_DIR / "var"

MANDANT_ENV = env_str("MANDANT_ENV", "development")
if MANDANT_ENV not in ("development", "production"):
    raise ImproperlyConfigured("MANDANT_ENV must be 'development' or 'production'")
PRODUCTION = MANDANT_ENV == "production"

DEBUG = env_bool("DEBUG", not PRODUCTION)

_secret = env_str("SECRET_KEY")
if _secret is None:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when MANDANT_ENV=production")
    _secret = "dev-insecure-mandant-key-only-for-local-development-and-tests-0123456789"  # noqa: S105
SECRET_KEY = _secret
# Earlier keys, comma-separated: signed links and encrypted DKIM keys made with them stay
# valid while they are re-made (docs/deployment.md, "Rotating SECRET_KEY").
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "mandant.core",
    "mandant.accounts",
    "mandant.tenants",
    "mandant.audit",
    "mandant.notices",
    "mandant.jobs",
    "mandant.content",
    "mandant.billing",
    "mandant.invoicing",
    "mandant.contacts",
    "mandant.sending",
    "mandant.campaigns",
    "mandant.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Unmatched API paths and methods answer JSON (after the locale: translated).
    "mandant.api.middleware.ApiJsonErrorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "mandant.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Confines a user who must change the password or set up a second factor (after messages).
    "mandant.accounts.middleware.SecurityGateMiddleware",
    "ninja.compatibility.files.fix_request_files_middleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mandant.config.urls"
WSGI_APPLICATION = "mandant.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mandant.core.context_processors.tenant_context",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'mandant.sqlite3'}") or ""
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the task worker writes; IMMEDIATE avoids
    # "database is locked" upgrades from read to write inside a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["TEST"] = {"NAME": env_str("SQLITE_TEST_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
PASSWORD_HASHERS = [
    # Argon2id tuned for the deployment (docs/benchmarks.md); reads Django's argon2 hashes too.
    "mandant.accounts.hashers.MandantArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# The one password policy (accounts/passwords.py): Django's own forms and the admin use it too.
AUTH_PASSWORD_VALIDATORS = [{"NAME": "mandant.accounts.passwords.PolicyValidator"}]
# Password-reset links (Django's default_token_generator) are valid this long, in seconds.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 2 * 3600)
# Second factor (django-otp): the name authenticator apps show next to the account.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Mandant")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:start"
LOGOUT_REDIRECT_URL = "accounts:login"

# Login throttling: after this many failures in a row for one account from one client,
# that account is blocked for that client (the seed's source system: 3 tries, 30 minutes).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 3)
LOGIN_BLOCK_MINUTES = env_int("LOGIN_BLOCK_MINUTES", 30)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "mandant_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = env_str("TIME_ZONE", "Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# The project-wide assets live in the package (not in an app), like the templates.
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
# Collected files are served by WhiteNoise in production; development serves from the finders.
_static_root = env_str("STATIC_ROOT", str(VAR_DIR / "static") if PRODUCTION else None)
STATIC_ROOT = Path(_static_root) if _static_root else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

for _key, _value in email_settings(env_str("EMAIL_URL", "outbox://") or "outbox://").items():
    globals()[_key] = _value
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Mandant <noreply@mandant.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

# Tenant logo limits (stated in the form and in every refusal).
LOGO_MAX_WIDTH = env_int("LOGO_MAX_WIDTH", 300)
LOGO_MAX_HEIGHT = env_int("LOGO_MAX_HEIGHT", 100)
LOGO_MAX_BYTES = env_int("LOGO_MAX_BYTES", 512 * 1024)

# Content library: images (assets) and the bin.
CONTENT_ASSET_MAX_BYTES = env_int("CONTENT_ASSET_MAX_BYTES", 2 * 1024 * 1024)
CONTENT_ASSET_MAX_PIXELS = env_int("CONTENT_ASSET_MAX_PIXELS", 4000)  # per side
CONTENT_BIN_DAYS = env_int("CONTENT_BIN_DAYS", 30)
# Copy Content: targets per transaction (progress is reported after each chunk).
COPY_CONTENT_CHUNK = env_int("COPY_CONTENT_CHUNK", 100)
# A running job whose worker has written no progress for this long has lost it (a killed
# process): its page offers to run it again (jobs.services.job_restart). Progress is written
# about once a second while a job works.
JOB_STALL_SECONDS = env_int("JOB_STALL_SECONDS", 300)

TENANT_LIST_PAGE_SIZE = 50

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

NINJA_PAGINATION_PER_PAGE = 50

# "Valid and active" e-mail addresses: syntax always; DNS (MX) lookup only when enabled.
EMAIL_CHECK_DELIVERABILITY = env_bool("EMAIL_CHECK_DELIVERABILITY", False)

# The public address of the site, for links in e-mails (invitations, verification, resets).
SITE_URL = (env_str("SITE_URL", "http://127.0.0.1:8000") or "").rstrip("/")

# Shared secret of the inbound bounce endpoint POST /inbound/bounces/ (Authorization: Bearer
# <secret>); the bounce mailbox's MTA posts each DSN there. Unset: the endpoint is a 404.
BOUNCE_WEBHOOK_SECRET = env_str("BOUNCE_WEBHOOK_SECRET")

# Invoices (mandant.invoicing): the supplier named on every invoice (§ 14 (4) UStG) and the
# payment term. The address is one string, lines separated by "\n" (written as such). The
# demo values below apply in development only; production must name the real supplier.
_demo = not PRODUCTION
INVOICE_SUPPLIER_NAME = env_str("INVOICE_SUPPLIER_NAME", "Mandant GmbH" if _demo else "") or ""
INVOICE_SUPPLIER_ADDRESS = (
    env_str("INVOICE_SUPPLIER_ADDRESS", "Friedrichstraße 123\\n10117 Berlin" if _demo else "") or ""
)
INVOICE_SUPPLIER_COUNTRY = (env_str("INVOICE_SUPPLIER_COUNTRY", "DE") or "DE").upper()
INVOICE_SUPPLIER_VAT_ID = env_str("INVOICE_SUPPLIER_VAT_ID", "DE123456789" if _demo else "") or ""
INVOICE_SUPPLIER_TAX_NUMBER = env_str("INVOICE_SUPPLIER_TAX_NUMBER", "") or ""
INVOICE_SUPPLIER_EMAIL = env_str("INVOICE_SUPPLIER_EMAIL", "billing@mandant.example") or ""
# Demo bank details only outside production (the standard example IBAN and an 8-letter BIC).
INVOICE_SUPPLIER_IBAN = (
    env_str("INVOICE_SUPPLIER_IBAN", "DE89370400440532013000" if _demo else "") or ""
)
INVOICE_SUPPLIER_BIC = env_str("INVOICE_SUPPLIER_BIC", "COBADEFF" if _demo else "") or ""
INVOICE_PAYMENT_DAYS = env_int("INVOICE_PAYMENT_DAYS", 14)
if PRODUCTION and not (
    INVOICE_SUPPLIER_NAME
    and INVOICE_SUPPLIER_ADDRESS
    and (INVOICE_SUPPLIER_VAT_ID or INVOICE_SUPPLIER_TAX_NUMBER)
):
    raise ImproperlyConfigured(
        "INVOICE_SUPPLIER_NAME, INVOICE_SUPPLIER_ADDRESS and INVOICE_SUPPLIER_VAT_ID or "
        "INVOICE_SUPPLIER_TAX_NUMBER must be set when MANDANT_ENV=production (§ 14 (4) UStG)"
    )

# Sending domains (mandant.sending): the SPF include every tenant's domain must name, the
# prefix of the DKIM selectors (followed by the year the key was made), and the DNS checks'
# timeout (seconds) and nameservers (comma-separated IPs, optionally "ip:port"; empty: the
# system's resolver).
SENDING_SPF_INCLUDE = env_str("SENDING_SPF_INCLUDE", "spf.mandant.example") or ""
SENDING_DKIM_SELECTOR_PREFIX = env_str("SENDING_DKIM_SELECTOR_PREFIX", "mandant") or "mandant"
SENDING_DNS_TIMEOUT = float(env_str("SENDING_DNS_TIMEOUT", "3") or "3")
SENDING_DNS_NAMESERVERS = env_list("SENDING_DNS_NAMESERVERS", [])

# The sending pipeline (mandant.campaigns.pipeline, docs/architecture.md "Sending pipeline"):
# recipients per batch task; SMTP connections a worker process's sending loop keeps busy at
# once; messages the loop claims at once and how long its claim holds before another worker
# may take the rows over (a crashed worker's);
# idle seconds after which a pooled SMTP connection is closed; the relay's limit in messages an
# hour (unset: none; the tenant's limit comes from its edition and upgrades).
CAMPAIGN_BATCH_SIZE = env_int("CAMPAIGN_BATCH_SIZE", 1000)
CAMPAIGN_SMTP_CONNECTIONS = env_int("CAMPAIGN_SMTP_CONNECTIONS", 8)
CAMPAIGN_CLAIM_SIZE = env_int("CAMPAIGN_CLAIM_SIZE", 100)
CAMPAIGN_CLAIM_SECONDS = env_int("CAMPAIGN_CLAIM_SECONDS", 120)
SMTP_POOL_IDLE_SECONDS = env_int("SMTP_POOL_IDLE_SECONDS", 30)
SENDING_RELAY_RATE_PER_HOUR = env_int("SENDING_RELAY_RATE_PER_HOUR", 0) or None
# Mail the server deferred (4xx): attempts in all, and the back-off base (base × 2ⁿ seconds).
MAIL_MAX_ATTEMPTS = env_int("MAIL_MAX_ATTEMPTS", 6)
MAIL_RETRY_BASE_SECONDS = env_int("MAIL_RETRY_BASE_SECONDS", 120)
# Public sign-up forms (contacts.signup): sign-ups per client address (over every tenant's
# forms) and per e-mail address in a window, counted from the pending consent records.
SIGNUP_RATE_PER_IP = env_int("SIGNUP_RATE_PER_IP", 20)
SIGNUP_RATE_PER_ADDRESS = env_int("SIGNUP_RATE_PER_ADDRESS", 3)
SIGNUP_RATE_WINDOW_SECONDS = env_int("SIGNUP_RATE_WINDOW_SECONDS", 3600)
# A contact import of at least this many rows refreshes PostgreSQL's planner statistics at its
# end (contacts.importing.refresh_statistics).
CONTACT_IMPORT_ANALYZE_ROWS = env_int("CONTACT_IMPORT_ANALYZE_ROWS", 10_000)
# An uploaded CSV is kept this many days (for the wizard and a second run with the valid rows),
# then removed by the next upload of any tenant.
CONTACT_IMPORT_KEEP_DAYS = env_int("CONTACT_IMPORT_KEEP_DAYS", 7)
