"""An import-linter contract for submodules of an external package (used by pyproject.toml).

import-linter sees an external package only as a whole: grimp records ``from PySide6.QtWidgets
import QApplication`` as an import of ``PySide6``. That cannot tell app/, which may use
``PySide6.QtCore`` for threads and signals, from a widget module. This contract reads the import
statements behind each such edge and names the submodules they reach.
"""
from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain.helpers import module_expressions_to_modules


class ForbiddenExternalSubmodulesContract(Contract):
    """The source modules (and their descendants) import none of the forbidden external submodules.

    Options: ``source_modules``, ``forbidden_modules`` (dotted names inside an external package,
    such as ``PySide6.QtWidgets``) and ``allowed_importers`` (modules exempt from the rule).
    Only direct imports are checked: an indirect one passes through a module the rooms' other
    contracts already cover.
    """

    type_name = "forbidden_external_submodules"

    source_modules = fields.SetField(subfield=fields.ModuleExpressionField())
    forbidden_modules = fields.SetField(subfield=fields.StringField())
    allowed_importers = fields.SetField(subfield=fields.ModuleField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        allowed = {module.name for module in self.allowed_importers or ()}  # type: ignore[union-attr]
        sources = set()
        for module in module_expressions_to_modules(graph, self.source_modules):  # type: ignore[arg-type]
            sources |= {module.name, *graph.find_descendants(module.name)}
        roots = {name.split(".")[0] for name in self.forbidden_modules}  # type: ignore[union-attr]
        violations = []
        for importer in sorted(sources - allowed):
            for root in sorted(roots & graph.find_modules_directly_imported_by(importer)):
                for detail in graph.get_import_details(importer=importer, imported=root):
                    reached = _imported_names(importer, detail["line_number"])
                    bad = sorted(self._forbidden_among(reached))
                    if bad:
                        violations.append((importer, detail["line_number"], detail["line_contents"], bad))
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, line_number, line_contents, bad in check.metadata["violations"]:
            output.print_error(f"{importer}:{line_number} imports {', '.join(bad)}: {line_contents}", bold=False)
            output.new_line()

    def _forbidden_among(self, names: set[str]) -> set[str]:
        return {f for f in self.forbidden_modules  # type: ignore[union-attr]
                if any(name == f or name.startswith(f + ".") for name in names)}


def _imported_names(module: str, line_number: int) -> set[str]:
    """Every dotted name the import statement at ``line_number`` reaches (``from a import b`` reaches
    ``a`` and ``a.b``): read from the source, since grimp keeps only the statement's first line."""
    names: set[str] = set()
    for node in ast.walk(_syntax_tree(module)):
        if getattr(node, "lineno", None) != line_number:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


@cache
def _syntax_tree(module: str) -> ast.Module:
    root, *parts = module.split(".")
    spec = importlib.util.find_spec(root)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"cannot find the source of {module}")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
