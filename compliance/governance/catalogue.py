"""The control catalogue: one YAML file per framework in `frameworks/`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.http import Http404

FRAMEWORKS_DIR = Path(__file__).resolve().parent / "frameworks"


class UnknownFramework(Http404):
    def __init__(self, key: str) -> None:
        known = ", ".join(frameworks())
        super().__init__(f"Unknown framework {key!r}. Known frameworks: {known}.")


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    description: str
    collectors: tuple[str, ...]


@dataclass(frozen=True)
class Framework:
    key: str
    name: str
    version: str
    controls: tuple[Control, ...]


@functools.cache
def frameworks() -> dict[str, Framework]:
    from compliance.governance.collectors import COLLECTORS

    found: dict[str, Framework] = {}
    for path in sorted(FRAMEWORKS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        controls = []
        for raw in data["controls"]:
            keys = tuple(str(c) for c in raw.get("collectors") or ())
            for key in keys:
                if key.split(":", 1)[0] not in COLLECTORS:
                    raise ValueError(f"{path.name}: control {raw['id']} names unknown collector {key!r}")
            controls.append(Control(str(raw["id"]), raw["title"], raw.get("description", ""), keys))
        found[data["id"]] = Framework(data["id"], data["name"], str(data.get("version", "")), tuple(controls))
    return found


def framework(key: str) -> Framework:
    try:
        return frameworks()[key]
    except KeyError:
        raise UnknownFramework(key) from None
