"""The house's import rules: each layer imports only from the layers below it.

From the bottom: ``_data`` (columns, checks, statistics), ``_model`` (the network, priors,
likelihoods, PPCA), ``_apply`` (using a trained module), ``_io`` (saved state), ``_fit``
(plan, train, summarise); then the fitted-model object and the estimators on top.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "skvae"
LAYERS = ["_data", "_model", "_apply", "_io", "_fit", "_fitted_model", "_pca_surface",
          "_transformer", "_imputer"]
# Imported by every layer: they import nothing from the package.
BASE = {"exceptions", "_version"}


def _layer(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in LAYERS else None


def _imports(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, as dotted names below ``skvae``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    package = parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [target] if node.module else [[*target, a.name] for a in node.names]
                found.update(".".join(name) for name in names if name)
            elif node.module and node.module.startswith("skvae."):
                found.add(node.module.removeprefix("skvae."))
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("skvae.") for a in node.names
                         if a.name.startswith("skvae."))
    return found


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if _layer(
        ".".join(p.relative_to(PACKAGE).with_suffix("").parts)))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_layer_imports_only_layers_below_it(path):
    own = _layer(".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    for imported in _imports(path):
        layer = _layer(imported)
        if layer is None or layer == own:
            assert layer == own or imported.split(".")[0] in BASE, imported
            continue
        assert LAYERS.index(layer) < LAYERS.index(own), (
            f"{path.relative_to(PACKAGE)} ({own}) imports {imported} ({layer})")


def test_the_rules_see_every_module_and_their_imports():
    # A rule that reads nothing passes vacuously: it must see the stages and their links.
    names = {".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in _modules()}
    assert {"_fit.plan", "_fit.train", "_fit.summarise", "_fitted_model"} <= names
    assert "_fit.plan" in _imports(PACKAGE / "_transformer.py")
    assert "_data.statistics" in _imports(PACKAGE / "_fit" / "plan.py")


def test_a_forbidden_import_is_caught(tmp_path, monkeypatch):
    # The model importing the training code breaks the rule.
    fake = PACKAGE / "_model" / "module.py"
    text = fake.read_text() + "\nfrom .._fit import training\n"
    copy = tmp_path / "skvae" / "_model" / "module.py"
    copy.parent.mkdir(parents=True)
    copy.write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "skvae")
    with pytest.raises(AssertionError, match=r"_model/module.py \(_model\) imports _fit"):
        test_each_layer_imports_only_layers_below_it(copy)
