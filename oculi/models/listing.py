"""The model catalogue as rows for people: `oculi models list` and the console's Models page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oculi.models.catalogue import CATALOGUE
from oculi.models.fetch import is_ready


def catalogue_rows(model_dir: Path) -> list[dict[str, Any]]:
    """One row per catalogue entry: where it comes from, its licence, and whether its file
    is installed in `model_dir`."""
    return [
        {
            "name": s.name,
            "task": s.task,
            "source": f"{s.carrier.package}=={s.carrier.version}",
            "file": s.member,
            "sha256": s.member_sha256,
            "licence": s.licence,
            "upstream": s.upstream,
            "accuracy": s.accuracy,
            "homepage": s.carrier.homepage,
            "opt_in": s.opt_in,
            "installed": is_ready(s, model_dir),
        }
        for s in CATALOGUE.values()
    ]
