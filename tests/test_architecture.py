"""The package's layers: data flows one way, and a lower layer never imports a higher one (nor a sibling).

anatomy and devices -> fields -> neurons -> populations -> therapy -> validation, cohort and clinic -> the CLI.
The root modules (the version, the CLI error contract, fingerprints, provenance, references) sit below them
all. Every import counts, module-level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "drgsim"
RANK = {"base": 0, "anatomy": 1, "devices": 1, "fields": 2, "neurons": 3, "populations": 4, "therapy": 5,
        "validation": 6, "cohort": 6, "clinic": 6, "cli": 7, "__main__": 8}


def _layer(module: str) -> str:
    """The layer of ``drgsim.x.y``: its subpackage, the CLI, or the base (root modules, the version, data)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "base"


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("drgsim"):
            out |= {f"{node.module}.{a.name}" if node.module == "drgsim" else node.module for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("drgsim")}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; write drgsim.<layer> imports")
    return out


def layering_violations(src: Path = SRC) -> list[str]:
    bad = []
    for path in sorted(src.rglob("*.py")):
        module = ".".join(path.relative_to(src.parent).with_suffix("").parts).removesuffix(".__init__")
        own = _layer(module)
        for target in sorted(_imports(path)):
            other = _layer(target)
            if other != own and RANK[other] >= RANK[own]:
                bad.append(f"{module} ({own}) imports {target} ({other})")
    return bad


def test_every_subpackage_has_a_layer():
    assert {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - {"data"} <= set(RANK)


def test_lower_layers_never_import_higher_ones_or_siblings():
    assert layering_violations() == []


def test_the_check_sees_a_violation(tmp_path):
    """The check is not vacuous: a devices module importing therapy, a function-level import of the clinic in
    neurons, and cohort importing its sibling clinic are all found; therapy importing neurons is not."""
    pkg = tmp_path / "drgsim"
    files = {"devices/a.py": "from drgsim.therapy.model import TherapyModel\n",
             "neurons/b.py": "import numpy\n\n\ndef f():\n    from drgsim.clinic import app\n    return app\n",
             "cohort/c.py": "import drgsim.clinic.db\n", "therapy/d.py": "from drgsim.neurons import solver\n"}
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    assert layering_violations(pkg) == ["drgsim.cohort.c (cohort) imports drgsim.clinic.db (clinic)",
                                        "drgsim.devices.a (devices) imports drgsim.therapy.model (therapy)",
                                        "drgsim.neurons.b (neurons) imports drgsim.clinic (clinic)"]
