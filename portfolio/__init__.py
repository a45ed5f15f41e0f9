"""Evidence portfolio for social-prescribing link workers and engagement workers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import ChainableUndefined, ChoiceLoader, FileSystemBytecodeCache, FileSystemLoader, PackageLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from . import templating
from .config import build_config
from .extensions import csrf, db, htmx, login_manager, migrate

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; ``config`` overrides settings read from the environment."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(build_config(app.instance_path, config))
    app.jinja_environment = templating.Environment  # before anything below makes app.jinja_env
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config["PROXY_COUNT"]:
        # Trust exactly that many proxies' X-Forwarded-* headers, no more.
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    # The NHS.UK macros read optional parameters of missing mappings
    # (params.navigation.colour), which needs ChainableUndefined.
    app.jinja_env.undefined = ChainableUndefined
    # Escape everywhere. Flask escapes only .html/.xml templates, and the
    # NHS.UK macros are .jinja files: without this, every value handed to
    # them (titles, names, messages, typed input) would be output raw.
    app.jinja_env.autoescape = True
    # The NHS.UK macros put each optional attribute's {% if %} on a line of its own: without these, every line
    # around a block tag reaches the page, a third of the HTML of most pages (18 of 50 KB of My portfolio) and
    # time spent writing it. Only whitespace beside block tags goes; the words and markup are unchanged.
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.loader = ChoiceLoader(
        [FileSystemLoader(str(PROJECT_ROOT / "templates")), PackageLoader("nhsuk_frontend_jinja")]
    )
    # Compiling a page with the NHS.UK macros it imports costs each server
    # process about 0.3 s of CPU on the page's first request (against 5 to
    # 40 ms to render it afterwards); the compiled code on disk brings that to
    # about 0.03 s after every restart. Templates are not re-read on each
    # request unless debugging (Flask's TEMPLATES_AUTO_RELOAD follows debug).
    if app.config["TEMPLATE_CACHE_FOLDER"]:
        Path(app.config["TEMPLATE_CACHE_FOLDER"]).mkdir(parents=True, exist_ok=True)
        # Its own file names: code compiled before the whitespace settings above is not read again.
        app.jinja_env.bytecode_cache = FileSystemBytecodeCache(
            app.config["TEMPLATE_CACHE_FOLDER"], "__trimmed_%s.cache"
        )

    from .database import configure_engine, end_read_only_transactions, install_query_count_header, is_app_table

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(PROJECT_ROOT / "migrations"),
        render_as_batch=True,
        compare_type=True,
        include_name=is_app_table,  # `flask db migrate` would otherwise drop the task queue's tables
    )
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)

    configure_engine(app)
    end_read_only_transactions(app)
    install_query_count_header(app)

    from . import tasks
    from .security import install_security_headers

    install_security_headers(app)
    tasks.init_app(app)

    from . import errors, navigation, paging, params, rendering
    from .account.routes import bp as account_bp
    from .auth import sessions
    from .auth.routes import bp as auth_bp
    from .cpd.routes import bp as cpd_bp
    from .documents.routes import bp as documents_bp
    from .evidence.routes import bp as evidence_bp
    from .frameworks.routes import bp as frameworks_bp
    from .home.routes import bp as home_bp
    from .mfa import routes as mfa_routes
    from .notifications import service as notifications_service
    from .notifications.routes import bp as notifications_bp
    from .organisation import service as organisation_service
    from .organisation.routes import bp as organisation_bp
    from .people.routes import bp as people_bp
    from .people.routes import invitations_bp
    from .progress import versions as portfolio_versions
    from .progress.routes import bp as progress_bp
    from .review.routes import bp as review_bp
    from .supervision.routes import bp as supervision_bp
    from .training.routes import bp as training_bp

    params.init_app(app)  # the id converter must exist before the blueprints' routes
    sessions.init_app(app)
    errors.init_app(app)
    navigation.init_app(app)
    rendering.init_app(app)
    templating.init_app(app)
    organisation_service.init_app(app)
    paging.init_app(app)
    app.register_blueprint(home_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(mfa_routes.bp)
    mfa_routes.init_app(app)  # the gate for roles that need a second factor
    app.register_blueprint(frameworks_bp)
    app.register_blueprint(evidence_bp)
    app.register_blueprint(review_bp)
    app.register_blueprint(supervision_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(progress_bp)
    app.register_blueprint(documents_bp)
    app.register_blueprint(training_bp)
    app.register_blueprint(cpd_bp)
    app.register_blueprint(people_bp)
    app.register_blueprint(invitations_bp)
    app.register_blueprint(organisation_bp)
    notifications_service.init_app(app)
    portfolio_versions.init_app(app)  # what each process counted, kept until a portfolio changes

    from . import assets
    from .audit.routes import bp as audit_bp
    from .credentials.routes import bp as credentials_bp
    from .portability.routes import bp as case_api_bp
    from .portability.routes import imports_bp as framework_import_bp

    app.register_blueprint(audit_bp)
    app.register_blueprint(case_api_bp)
    app.register_blueprint(framework_import_bp)
    app.register_blueprint(credentials_bp)
    assets.init_app(app)

    from .audit.cli import audit_cli
    from .auth.cli import users_cli
    from .credentials.cli import credentials_cli
    from .demo import demo_command
    from .evidence.cli import files_cli
    from .frameworks.cli import frameworks_cli
    from .housekeeping import housekeeping_command
    from .notifications.cli import notifications_cli
    from .progress.cli import progress_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(frameworks_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(audit_cli)
    app.cli.add_command(files_cli)
    app.cli.add_command(credentials_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(progress_cli)
    app.cli.add_command(housekeeping_command)
    return app
