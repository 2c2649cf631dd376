"""Database location, engines and Alembic migrations.

The embedded default is a SQLite file in the data directory (``DRGSIM_DATA_DIR``, default
``~/.local/share/drgsim``); ``DRGSIM_DATABASE_URL`` points the clinic at any SQLAlchemy URL instead
(``postgresql://user:pw@127.0.0.1/drgsim`` uses psycopg 3). The schema is created and changed only
by the Alembic migrations in ``drgsim/clinic/migrations``.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"


def data_dir() -> Path:
    """Where the clinic keeps its SQLite file and generated figures."""
    return Path(os.environ.get("DRGSIM_DATA_DIR") or Path.home() / ".local" / "share" / "drgsim")


def database_url(url: str | None = None) -> str:
    """``url``, else ``DRGSIM_DATABASE_URL``, else the SQLite file in the data directory."""
    url = url or os.environ.get("DRGSIM_DATABASE_URL")
    if not url:
        folder = data_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'clinic.sqlite3'}"
    parsed = make_url(url)  # raises ArgumentError naming a malformed URL
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str | None = None, *, pooled: bool = True) -> Engine:
    """An engine for ``url``; ``pooled=False`` closes each connection after use (migrations, scripts)."""
    url = database_url(url)
    kw = {} if pooled else {"poolclass": NullPool}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record):  # foreign keys on; WAL lets readers run beside one writer
            cur = conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
        return engine
    if pooled:
        kw = {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True}
    return create_engine(url, **kw)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url, pooled=False)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
