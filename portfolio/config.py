"""Settings, read from environment variables with safe defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(RuntimeError):
    """The environment does not describe a deployment that can start safely."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


# A hundred years: "keep for good" in practice, and far from the dates Python can count to.
MOST_DAYS = 36_500


def _days(name: str, default: int, *, minimum: int) -> timedelta:
    days = _int(name, default)
    if not minimum <= days <= MOST_DAYS:
        raise ConfigError(f"{name} must be a number of days from {minimum} to {MOST_DAYS:,}, not {days}")
    return timedelta(days=days)


def _development_secret_key(instance: Path) -> str:
    """A random key made once and kept in the instance folder (the first of racing processes wins)."""
    path = instance / "development-secret-key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        draft = instance / f".development-secret-key-{os.getpid()}"
        draft.write_text(os.urandom(32).hex())
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic, and refuses to replace a key another process made first
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def build_config(instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the settings for this process: environment first, then ``overrides``."""
    overrides = dict(overrides or {})
    env = overrides.get("PORTFOLIO_ENV") or os.environ.get("PORTFOLIO_ENV", "production")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PORTFOLIO_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    local = env in ("development", "testing")
    instance = Path(instance_path)

    config: dict[str, Any] = {
        "PORTFOLIO_ENV": env,
        "TESTING": env == "testing",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": os.environ.get("PORTFOLIO_DATABASE_URL") or f"sqlite:///{instance / 'portfolio.db'}",
        "UPLOAD_FOLDER": os.environ.get("PORTFOLIO_UPLOAD_FOLDER") or str(instance / "uploads"),
        # Built exports and panel PDFs, kept DOCUMENT_HOURS for their download (None: "documents" beside uploads).
        "DOCUMENT_FOLDER": os.environ.get("PORTFOLIO_DOCUMENT_FOLDER") or None,
        "DOCUMENT_HOURS": _int("PORTFOLIO_DOCUMENT_HOURS", 24),
        # Compiled templates kept between restarts (none in tests, which share one in memory).
        "TEMPLATE_CACHE_FOLDER": None
        if env == "testing"
        else os.environ.get("PORTFOLIO_TEMPLATE_CACHE_FOLDER") or str(instance / "template-cache"),
        "MAX_UPLOAD_MB": _int("PORTFOLIO_MAX_UPLOAD_MB", 20),
        # Sessions: short idle timeout (refreshed on every request), hard limit
        # on a sign-in's total age, cookies that scripts and other sites can't use.
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=_int("PORTFOLIO_IDLE_MINUTES", 30)),
        "SESSION_ABSOLUTE_LIFETIME": timedelta(hours=_int("PORTFOLIO_ABSOLUTE_HOURS", 10)),
        "SESSION_REFRESH_EACH_REQUEST": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not local,
        "REMEMBER_COOKIE_DURATION": timedelta(hours=_int("PORTFOLIO_ABSOLUTE_HOURS", 10)),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": not local,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "SEND_HSTS": not local,
        # Sign-in throttling: failures allowed in the window before a pause.
        "SIGN_IN_WINDOW": timedelta(minutes=_int("PORTFOLIO_SIGN_IN_WINDOW_MINUTES", 15)),
        "SIGN_IN_MAX_FAILURES_PER_ACCOUNT": _int("PORTFOLIO_SIGN_IN_MAX_FAILURES", 5),
        "SIGN_IN_MAX_FAILURES_PER_ADDRESS": _int("PORTFOLIO_SIGN_IN_MAX_FAILURES_PER_ADDRESS", 50),
        # Forgotten-password requests allowed in the same window, counted for every address typed.
        "PASSWORD_RESET_MAX_PER_EMAIL": _int("PORTFOLIO_PASSWORD_RESET_MAX_PER_EMAIL", 3),
        "PASSWORD_RESET_MAX_PER_ADDRESS": _int("PORTFOLIO_PASSWORD_RESET_MAX_PER_ADDRESS", 20),
        # How long the throttle's records of attempts (with IP addresses) are kept, and notices after they are
        # read (portfolio/housekeeping.py). A notice counting today's sends is at most a day old (25 hours when
        # the clocks go back): two days at least, so housekeeping never removes one being counted into.
        "ATTEMPTS_KEPT": _days("PORTFOLIO_ATTEMPTS_KEPT_DAYS", 30, minimum=1),
        "READ_NOTICES_KEPT": _days("PORTFOLIO_READ_NOTICES_KEPT_DAYS", 365, minimum=2),
        "DEMO_PASSWORD": os.environ.get("PORTFOLIO_DEMO_PASSWORD") or "portfolio-demo-2026",
        # The audit ledger's HMAC key: kept out of the database on purpose.
        "AUDIT_KEY": os.environ.get("PORTFOLIO_AUDIT_KEY") or None,
        # Where `flask audit checkpoint` appends the chain's signed head, outside the database.
        "AUDIT_CHECKPOINT_FILE": os.environ.get("PORTFOLIO_AUDIT_CHECKPOINT_FILE")
        or str(instance / "audit-checkpoints.log"),
        # Email notices (optional): no host, no email.
        "SMTP_HOST": os.environ.get("PORTFOLIO_SMTP_HOST") or None,
        "SMTP_PORT": _int("PORTFOLIO_SMTP_PORT", 587),
        "SMTP_USERNAME": os.environ.get("PORTFOLIO_SMTP_USERNAME") or None,
        "SMTP_PASSWORD": os.environ.get("PORTFOLIO_SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": os.environ.get("PORTFOLIO_SMTP_STARTTLS", "true").lower() not in ("0", "false", "no"),
        "MAIL_FROM": os.environ.get("PORTFOLIO_MAIL_FROM") or "portfolio@localhost",
        # The hour (UTC, 0-23) at which the task consumer sends the daily digests of notifications.
        "DIGEST_HOUR": _int("PORTFOLIO_DIGEST_HOUR", 7),
        "PUBLIC_URL": os.environ.get("PORTFOLIO_PUBLIC_URL") or "http://127.0.0.1:5000",
        # The Ed25519 key that signs Open Badges credentials (multibase, from `flask credentials key`),
        # kept outside the database like the audit key; and the issuer's name in them.
        "ISSUER_KEY": os.environ.get("PORTFOLIO_ISSUER_KEY") or None,
        # The organisation's identity until a manager saves the Organisation page (organisation/service.py):
        # the service's name, the employer's name and logo (a PNG or JPEG file), and whether it is an NHS
        # organisation: only then does the header show the NHS logo.
        "SERVICE_NAME": os.environ.get("PORTFOLIO_SERVICE_NAME") or "Evidence portfolio",
        "ORGANISATION_NAME": os.environ.get("PORTFOLIO_ORGANISATION_NAME") or "",
        "ORGANISATION_IS_NHS": _flag("PORTFOLIO_ORGANISATION_IS_NHS", False),
        "ORGANISATION_LOGO": os.environ.get("PORTFOLIO_ORGANISATION_LOGO") or None,
        # The read-only CASE 1.1 service publishing the frameworks (public documents).
        "CASE_API": os.environ.get("PORTFOLIO_CASE_API", "on").lower() not in ("0", "off", "false", "no"),
        # How many reverse proxies in front of the app set X-Forwarded-*: the
        # client's address (for sign-in throttling) and scheme come from them.
        "PROXY_COUNT": _int("PORTFOLIO_PROXY_COUNT", 0),
        # Multi-factor sign-in: the Fernet key that encrypts one-time-code
        # secrets (kept outside the database), and the roles that must use it.
        "MFA_KEY": os.environ.get("PORTFOLIO_MFA_KEY") or None,
        "MFA_REQUIRED_ROLES": os.environ.get("PORTFOLIO_MFA_REQUIRED_ROLES", "supervisor,manager"),
        # How long the password step is remembered while the second step is asked for.
        "MFA_PENDING_LIFETIME": timedelta(minutes=5),
        # The benchmark (`make bench`) turns this on: each answer says how many SQL queries it made.
        "QUERY_COUNT_HEADER": os.environ.get("PORTFOLIO_QUERY_COUNT_HEADER", "").lower() in ("1", "true", "yes"),
        # Background tasks (email): where they wait for the consumer, and whether
        # they run at once instead (tests, so they stay deterministic).
        "TASK_QUEUE": os.environ.get("PORTFOLIO_TASK_QUEUE") or f"sqlite:///{instance / 'tasks.db'}",
        "TASKS_IMMEDIATE": _flag("PORTFOLIO_TASKS_IMMEDIATE", env == "testing"),
        # Deployments (or test runs) sharing one Redis or database keep apart by name.
        "TASK_QUEUE_NAME": os.environ.get("PORTFOLIO_TASK_QUEUE_NAME") or "portfolio",
        # `flask digest compile` (make setup): hashed copies of static files, gzip and brotli versions.
        "FLASK_STATIC_DIGEST_COMPRESSION": ["gzip", "brotli"],
        "FLASK_STATIC_DIGEST_BLACKLIST_FILTER": [],
    }
    config.update(overrides)
    # Request limits, set explicitly: a whole request may carry a few files
    # of the per-file limit; non-file fields stay small and few.
    config["MAX_CONTENT_LENGTH"] = overrides.get(
        "MAX_CONTENT_LENGTH", config["MAX_UPLOAD_MB"] * 5 * 1024 * 1024 + 1024 * 1024
    )
    config["MAX_FORM_MEMORY_SIZE"] = overrides.get("MAX_FORM_MEMORY_SIZE", 1024 * 1024)
    config["MAX_FORM_PARTS"] = overrides.get("MAX_FORM_PARTS", 200)
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        # Every use case is written for read committed (each statement sees what was committed when it started;
        # row locks make writers take turns), and reads run outside a transaction on it (database.py): so it is
        # set here, whatever a server's own default says.
        options = config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"isolation_level": "READ COMMITTED", **options}

    if not config["SECRET_KEY"]:
        if config["PORTFOLIO_ENV"] == "production":
            raise ConfigError(
                "SECRET_KEY is not set. Set it to a long random value, for example the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        # Tests get a fresh key per process: nothing to leak. Development keeps
        # one in the instance folder, shared by every gunicorn worker of `make run`.
        config["SECRET_KEY"] = os.urandom(32).hex() if env == "testing" else _development_secret_key(instance)
    if not config["AUDIT_KEY"]:
        if config["PORTFOLIO_ENV"] == "production":
            raise ConfigError(
                "PORTFOLIO_AUDIT_KEY is not set. Set it to a long random value kept outside the database "
                "(and backed up: without it the audit ledger cannot be verified)."
            )
        # A fixed key outside production, so the ledger verifies across restarts.
        config["AUDIT_KEY"] = "development-only-audit-key"
    if not config["ISSUER_KEY"] and config["PORTFOLIO_ENV"] != "production":
        # A fixed key outside production, so demo credentials verify across restarts.
        # Production issues nothing until PORTFOLIO_ISSUER_KEY is set.
        config["ISSUER_KEY"] = DEVELOPMENT_ISSUER_KEY
    if not 0 <= config["DIGEST_HOUR"] <= 23:
        raise ConfigError(
            f"PORTFOLIO_DIGEST_HOUR must be an hour from 0 to 23 (the server's local time), not {config['DIGEST_HOUR']}"
        )
    _mfa_settings(config)
    return config


# An Ed25519 private key (multibase) for development and tests only: never use it for real credentials.
DEVELOPMENT_ISSUER_KEY = "z3u2c2cXeXXMCWLnMrMCD8D5d8DLykqESZ4yfCa1FRYqh1se"

# A fixed, valid Fernet key outside production, so secrets survive restarts.
DEVELOPMENT_MFA_KEY = "ZGV2ZWxvcG1lbnQtb25seS1tZmEta2V5LTMyYnl0ZXM="


def _mfa_settings(config: dict[str, Any]) -> None:
    """Check the MFA key and turn the required roles into a set of role names."""
    from cryptography.fernet import Fernet

    if not config["MFA_KEY"]:
        if config["PORTFOLIO_ENV"] == "production":
            raise ConfigError(
                "PORTFOLIO_MFA_KEY is not set. Set it to a Fernet key kept outside the database, for example the "
                "output of `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
            )
        config["MFA_KEY"] = DEVELOPMENT_MFA_KEY
    try:
        Fernet(config["MFA_KEY"])
    except (ValueError, TypeError) as exc:
        raise ConfigError("PORTFOLIO_MFA_KEY must be a Fernet key (32 bytes, URL-safe base64)") from exc
    roles = config["MFA_REQUIRED_ROLES"]
    if isinstance(roles, str):
        roles = [part.strip().lower() for part in roles.split(",") if part.strip()]
    known = ("worker", "supervisor", "manager")
    unknown = sorted(set(roles) - set(known))
    if unknown:
        raise ConfigError(f"PORTFOLIO_MFA_REQUIRED_ROLES may name {', '.join(known)}, not {', '.join(unknown)}")
    config["MFA_REQUIRED_ROLES"] = frozenset(roles)
