"""``python -m drgsim``: the same CLI as the ``drgsim`` command."""

from drgsim.cli import app

app(prog_name="drgsim")
