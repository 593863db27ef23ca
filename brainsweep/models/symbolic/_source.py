"""Where TVB-O files come from, and reading a YAML file with the line of every entry.

The tvbo package (EUPL-1.2) is never imported (its dependencies are heavy) and its files are
never copied: they are read in place from, in this order, an explicit folder, the
``BRAINSWEEP_TVBO_PATH`` environment variable, or the installed package located with
``importlib.util.find_spec`` (which does not execute it).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import yaml

__all__ = ["YamlModelError", "Refused", "tvbo_database", "load_yaml", "find_yaml", "catalog", "catalog_couplings"]

ENV_VAR = "BRAINSWEEP_TVBO_PATH"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 30x faster


class YamlModelError(ValueError):
    """A model or coupling file that cannot be used: names the file, the line and the symbol."""

    def __init__(self, path, line: int | None, symbol: str, message: str):
        self.path = str(path)
        self.line = line
        self.symbol = symbol
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {symbol!r}: {message}")


class Refused(YamlModelError):
    """A well-formed file that uses a feature the engine cannot run (the message names it)."""


def _num(v):
    """float(v), or None for None, booleans and what is not a number."""
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _text(d) -> str:
    """A description on one line ('' for None)."""
    return "" if d is None else " ".join(str(d).split())


def tvbo_database(path=None) -> Path | None:
    """The tvbo ``database`` folder: ``path`` (the package folder or its ``database``), else
    ``$BRAINSWEEP_TVBO_PATH``, else the installed ``tvbo`` package; None if none is found."""
    candidates = []
    if path is not None:
        candidates.append(Path(path))
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    if path is None:
        try:
            spec = importlib.util.find_spec("tvbo")
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            candidates += [Path(p) for p in spec.submodule_search_locations]
    for c in candidates:
        for d in (c / "database", c / "tvbo" / "database", c):
            if (d / "models").is_dir() and (d / "coupling_functions").is_dir():
                return d
    if path is not None:
        raise FileNotFoundError(f"no tvbo database (models/ and coupling_functions/) under {path}")
    return None


def find_yaml(name_or_path, folder: str, database=None) -> Path:
    """A YAML file given as a path, or by name (file stem) in the tvbo database ``folder``."""
    p = Path(name_or_path)
    if p.suffix.lower() in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise FileNotFoundError(f"no such YAML file: {p}")
        return p
    db = tvbo_database(database)
    if db is None:
        raise FileNotFoundError(
            f"{name_or_path!r} is not a file and the tvbo database was not found: install it "
            f"(pip install 'brainsweep[tvbo]', or pip install --no-deps tvbo==0.5.3) or set ${ENV_VAR}")
    files = {f.stem: f for f in sorted((db / folder).glob("*.y*ml"))}
    if str(name_or_path) in files:
        return files[str(name_or_path)]
    lower = {k.lower(): v for k, v in files.items()}
    if str(name_or_path).lower() in lower:
        return lower[str(name_or_path).lower()]
    from ..params import unknown_name_error

    raise unknown_name_error(f"tvbo {folder[:-1] if folder.endswith('s') else folder}", name_or_path, files)


def load_yaml(path: Path) -> tuple[dict, dict]:
    """(data, lines): the parsed document (safe loader) and the 1-based line of every entry,
    keyed by its path of keys, e.g. ``lines[("state_variables", "y4", "equation", "rhs")]``."""
    text = Path(path).read_text()
    loader = _LOADER(text)
    try:  # one pass: the node tree (lines) and the document constructed from it
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlModelError(path, mark.line + 1 if mark else None, "", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise YamlModelError(path, 1, "", "expected a mapping (name, parameters, state_variables, ...)")
    lines: dict = {}
    _walk(node, (), lines)
    return data, lines


def _walk(node, prefix: tuple, lines: dict) -> None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = prefix + (k.value,)
            lines[key] = v.start_mark.line + 1 if isinstance(v, yaml.ScalarNode) else k.start_mark.line + 1
            _walk(v, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            lines[prefix + (i,)] = v.start_mark.line + 1
            _walk(v, prefix + (i,), lines)


def line_of(lines: dict, *keys) -> int | None:
    """The line of the deepest existing entry along ``keys``."""
    for n in range(len(keys), 0, -1):
        if keys[:n] in lines:
            return lines[keys[:n]]
    return None


def catalog(database=None) -> dict:
    """Models available: brainsweep's own (name -> ``"brainsweep"``) and, when the tvbo database
    is found, its model files (name -> path). Couplings: ``catalog_couplings``."""
    from .. import __all__ as builtins  # brainsweep.models (imported by then)

    out = {n: "brainsweep" for n in builtins if n.endswith("Model") and n != "Model"}
    db = tvbo_database(database)
    if db is not None:
        out.update({f.stem: str(f) for f in sorted((db / "models").glob("*.y*ml"))})
    return out


def catalog_couplings(database=None) -> dict:
    """Coupling functions of the tvbo database: name -> path (empty without tvbo)."""
    db = tvbo_database(database)
    return {} if db is None else {f.stem: str(f) for f in sorted((db / "coupling_functions").glob("*.y*ml"))}
