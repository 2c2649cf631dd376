"""``drgsim serve`` and ``drgsim clinic``: run the clinic, migrate its database, add clinicians."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console

from drgsim.clierrors import fail

console = Console(stderr=True)
clinic_app = typer.Typer(add_completion=False, no_args_is_help=True)
QUALITIES = ("standard", "quick")


def _url(database_url: str | None, as_json: bool) -> str:
    from sqlalchemy.exc import ArgumentError

    from drgsim.clinic.db import database_url as resolve

    try:
        return resolve(database_url)
    except ArgumentError as err:
        fail(f"--database-url={database_url!r}: {err}", as_json)


def _out(data: dict, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(data))
    else:
        console.print(text)


def serve(host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port, 1-65535")] = 8000,
          database_url: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL; default DRGSIM_DATABASE_URL or "
                                                                    "the SQLite file in DRGSIM_DATA_DIR")] = None,
          quality: Annotated[str, typer.Option(help="therapy-model quality of predictions: standard or quick")
                             ] = "standard",
          secure_cookies: Annotated[bool, typer.Option(help="mark cookies Secure (behind HTTPS)")] = False,
          as_json: Annotated[bool, typer.Option("--json", help="print the start-up facts as JSON")] = False) -> None:
    """Run the clinic web application (migrates the database to the latest schema first)."""
    import uvicorn

    from drgsim.clinic.app import create_app
    from drgsim.clinic.db import upgrade

    if not 1 <= port <= 65535:
        fail(f"--port={port}: allowed 1-65535", as_json)
    if quality not in QUALITIES:
        fail(f"--quality={quality!r}: allowed {', '.join(QUALITIES)}", as_json)
    url = _url(database_url, as_json)
    upgrade(url)
    _out({"url": f"http://{host}:{port}/", "database": url.split("@")[-1], "quality": quality}, as_json,
         f"drgsim clinic on http://{host}:{port}/ (database {url.split('@')[-1]})")
    uvicorn.run(create_app(url, quality=quality, secure_cookies=secure_cookies), host=host, port=port,
                log_level="warning", timeout_keep_alive=30)


@clinic_app.command("migrate")
def migrate(revision: Annotated[str, typer.Option(help="target revision: head, base or an id")] = "head",
            database_url: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL")] = None,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Upgrade (or, to an older revision, downgrade) the clinic database."""
    from alembic.util import CommandError

    from drgsim.clinic.db import current_revision, downgrade, upgrade

    url = _url(database_url, as_json)
    try:
        before = current_revision(url)
        (upgrade if revision == "head" or before is None else downgrade)(url, revision)
    except CommandError as err:
        fail(f"--revision={revision!r}: {err}", as_json)
    after = current_revision(url)
    _out({"before": before, "after": after}, as_json, f"database at revision {after} (was {before})")


@clinic_app.command("add-clinician")
def add_clinician(username: Annotated[str, typer.Option(help="3-64 of a-z 0-9 _ . -")],
                  password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                                        help="at least 8 characters")],
                  name: Annotated[str, typer.Option(help="display name")] = "",
                  database_url: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL")] = None,
                  as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Create a clinician account (the first one has to come from here)."""
    import re

    from drgsim.clinic import service
    from drgsim.clinic.db import make_engine, session_factory, upgrade
    from drgsim.clinic.schemas import USERNAME

    if not re.match(USERNAME, username):
        fail(f"--username={username!r}: allowed 3-64 of a-z 0-9 _ . -", as_json)
    url = _url(database_url, as_json)
    upgrade(url)
    engine = make_engine(url, pooled=False)
    try:
        with session_factory(engine).begin() as db:
            user = service.create_clinician(db, username, password, name or username)
            uid = user.id
    except (ValueError, service.Conflict) as err:
        fail(f"--password or --username: {err}" if isinstance(err, ValueError) else f"--username: {err}", as_json)
    finally:
        engine.dispose()
    _out({"id": uid, "username": username}, as_json, f"clinician {username} created (id {uid})")
