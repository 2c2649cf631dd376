"""Cache fingerprints cover the code that produces a result and nothing else."""

import ast

from drgsim import fingerprint
from drgsim.fields.solve import code_fingerprint


def _dump(src: str) -> str:
    return ast.dump(fingerprint._without_docstrings(ast.parse(src)))


def test_docstrings_and_comments_do_not_count_code_does():
    base = 'def f(x):\n    """Old help."""\n    return x + 1\n'
    assert _dump(base) == _dump('def f(x):\n    """New help, longer."""\n    # a comment\n    return x + 1\n')
    assert _dump(base) == _dump("def f(x):\n    return x + 1\n")
    assert _dump(base) != _dump('def f(x):\n    """Old help."""\n    return x + 2\n')


def test_fields_and_tables_do_not_depend_on_the_cli_the_clinic_or_the_outcomes():
    for root in ("drgsim.fields.solve", "drgsim.therapy.model"):
        mods = fingerprint.closure(root)
        assert not [m for m in mods if m.endswith(".cli") or ".clinic" in m or m.endswith(".figures")]
        assert "drgsim.therapy.outcomes" not in mods and "drgsim.therapy.optimize" not in mods
    fields = fingerprint.closure("drgsim.fields.solve")
    assert {"drgsim.fields.anatomy_models", "drgsim.devices.leads"} <= set(fields)
    assert "drgsim.neurons.kernel" not in fields  # the cable engine does not change a field
    assert {"drgsim.neurons.kernel", "drgsim.populations.drg"} <= set(fingerprint.closure("drgsim.therapy.model"))


def test_lazy_imports_are_followed():
    src = "def f():\n    from drgsim.neurons import kernel\n    return kernel\n"
    assert "drgsim.neurons.kernel" in fingerprint._imports("probe", ast.parse(src))
    assert len(code_fingerprint()) == 64
