"""Bad input on the command line, the same in every command: under ``--json`` the message as
``{"error": ...}`` on stdout, always in red on stderr (as text, never read as rich markup), exit status 2.
A computation that cannot give an answer for valid input (a cell that never fires, a field that cannot
be meshed) reports the same way with status 1. Input that a pydantic model refuses is described by
``drgsim.errors.validation_message`` with ``drgsim.errors.flag``, so each problem names the flag, the
value and the constraint."""

from __future__ import annotations

import json
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True)


def fail(message: str, as_json: bool, code: int = 2) -> NoReturn:
    """Report bad input (status 2) or a computation without an answer (status 1), and exit."""
    if as_json:
        print(json.dumps({"error": message}))
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)
