"""Fingerprints of the code that produces a result, for content-hashed caches.

A cached result must be read again exactly when nothing that produced it changed. The fingerprint of a
module therefore covers that module and every ``drgsim`` module it imports (the closure, followed
through the source, lazy imports included), each as its syntax tree without docstrings or comments:
editing a help string, a docstring, the CLI or the clinic leaves fields and threshold tables valid,
editing a line of their code does not.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from importlib import resources, util

_TOP = "drgsim"


def _source(module: str) -> str:
    spec = util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    with open(spec.origin, encoding="utf-8") as f:
        return f.read()


def _is_module(name: str) -> bool:
    try:
        return util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _imports(module: str, tree: ast.AST) -> set[str]:
    """The drgsim modules ``module`` imports (a ``from package import name`` counts ``package.name`` when
    that is a module)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith(_TOP + ".")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.startswith(_TOP + "."):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")}
    return out - {module}


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
                    isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


@cache
def closure(root: str) -> tuple[str, ...]:
    """``root`` and every drgsim module it imports, directly or not, sorted."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += sorted(_imports(name, ast.parse(_source(name))) - seen)
    return tuple(sorted(seen))


@cache
def code_fingerprint(roots: tuple[str, ...], data: tuple[str, ...] = ()) -> str:
    """Hash of the code of ``roots`` and their imports (syntax trees, no docstrings) and of the package data
    files ``data`` (names under ``drgsim.data``)."""
    h = hashlib.sha256()
    for name in sorted({m for r in roots for m in closure(r)}):
        h.update(name.encode() + ast.dump(_without_docstrings(ast.parse(_source(name)))).encode())
    for name in data:
        h.update(name.encode() + resources.files("drgsim.data").joinpath(name).read_bytes())
    return h.hexdigest()
