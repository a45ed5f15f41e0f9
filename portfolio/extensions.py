"""Extension instances, created bare and bound to the app in ``create_app``."""

from typing import TYPE_CHECKING

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so migrations can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# The base class of every model. ``db.Model`` is Flask-SQLAlchemy's subclass of ``Base`` (it adds the table
# name default and the bind key); mypy cannot subclass an instance attribute, so it is told the class it extends.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
htmx = Htmx()
