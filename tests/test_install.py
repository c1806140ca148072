"""The README's install: what `pip install .` (no extras) brings covers everything oculi
imports, the test environment is not the server's, and CI runs the README as written.

The install itself (a fresh venv, `pip install .`, `oculi serve`, boto3 calls) is run by
`.ci/run`'s smoke step (tools/smoke.py), before the test extras exist: too slow for here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parent.parent
# Modules of optional features, imported only when that feature is asked for, and the
# extra that installs what they need.
OPTIONAL = {
    "oculi.store.postgres": "scale",
    "oculi.store.qdrant": "scale",
    "oculi.store.pgvector": "scale",
    "oculi.audit_pg": "scale",
    "oculi.video.queue": "scale",
    "oculi.store.milvus": "milvus",
}
# Imported by a dependency when present, and used only then (botocore: its CA bundle;
# anyio: sniffio, which it imports when present; the test extra's selenium brings it;
# paho-mqtt: PySocks, for SOCKS proxies, when something else installed it).
USED_IF_PRESENT = {"certifi", "sniffio", "pysocks"}

IMPORT_ALL = """
import importlib, json, pkgutil, sys
before = {name.split(".")[0] for name in sys.modules}  # what the interpreter loads itself
import oculi
skip = set(sys.argv[1:]) | {"oculi.__main__"}
for m in pkgutil.walk_packages(oculi.__path__, "oculi."):
    if m.name not in skip:
        importlib.import_module(m.name)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} - before)))
"""


def _closure(requirements: list[Requirement], extras: frozenset[str] = frozenset()) -> set[str]:
    """The distributions these requirements install, following installed metadata."""
    seen: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        req, wanted = todo.pop()
        env_ok = req.marker is None or any(
            req.marker.evaluate({"extra": e}) for e in (wanted or {""})
        )
        name = canonicalize_name(req.name)
        if not env_ok or name in seen:
            continue
        seen.add(name)
        try:
            sub = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [(Requirement(r), frozenset(req.extras)) for r in sub]
    return seen


def test_core_dependencies_cover_every_import_outside_the_extras() -> None:
    """Every module of oculi but the optional ones imports with only what the core
    dependencies install (the README's `pip install .`): faiss was once only in extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _closure([Requirement(r) for r in project["dependencies"]])
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *OPTIONAL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    owners = metadata.packages_distributions()
    imported = {
        canonicalize_name(dist)
        for top in json.loads(done.stdout)
        for dist in owners.get(top, [])
        if canonicalize_name(dist) not in ("oculi", *USED_IF_PRESENT)
    }
    assert imported - core == set(), "imported but not in the core dependencies"


def test_optional_modules_are_imported_only_where_their_feature_is_asked_for() -> None:
    """psycopg and qdrant_client stay in the `scale` extra: nothing imports their modules
    at module level."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(OPTIONAL.values()) <= set(project["optional-dependencies"])
    for path in (ROOT / "oculi").rglob("*.py"):
        for line in path.read_text().splitlines():
            for module in OPTIONAL:
                assert not line.startswith((f"from {module} ", f"import {module}")), path


def _readme_commands(section: str) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    body = readme.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", body, re.S)
    assert block, section
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_tests_run_in_their_own_environment() -> None:
    """The test command must not reinstall oculi (editable) into the `.venv` a server from
    the set-up runs from: that broke a running server's lazy imports (HTTP 500)."""
    setup = _readme_commands("Set up and run")
    (tests,) = _readme_commands("Tests")
    assert setup[0].startswith("python3 -m venv .venv && .venv/bin/pip install .")
    assert ".venv/" not in tests.replace(".venv-test/", "")
    assert tests.startswith("python3 -m venv .venv-test && .venv-test/bin/pip install -e")
    assert "/.venv-test/" in (ROOT / ".gitignore").read_text().splitlines()


def test_ci_runs_the_readme_as_written_in_its_order() -> None:
    """`.ci/run` holds the README's set-up line, its serve command, the smoke calls and
    its test command, in that order."""
    ci = (ROOT / ".ci" / "run").read_text()
    install, serve = _readme_commands("Set up and run")
    (tests,) = _readme_commands("Tests")
    at = [
        ci.find(install),
        ci.find(serve + " "),
        ci.find(".venv/bin/python tools/smoke.py"),
        ci.find(tests),
    ]
    assert -1 not in at and at == sorted(at), at
