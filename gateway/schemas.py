"""JSON Schemas (draft 2020-12) of every MQTT payload, shipped in ``gateway/schemas/*.json``.

The schema files are the published contract for dispatch software; this module only finds and applies them.
``jsonschema`` is a test-time dependency, so ``validate`` imports it when called and the daemon never does.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_NAMES = (
    "position",
    "status",
    "text",
    "emergency",
    "health",
    "radio",
    "command-send_status",
    "command-send_text",
    "command-request_location",
    "command-result",
)
"""Every shipped schema; the file of each is ``gateway/schemas/<name>.json``."""


@cache
def _load(name: str) -> str:
    if name not in SCHEMA_NAMES:
        raise KeyError(f"no schema named {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return resources.files("gateway").joinpath("schemas", f"{name}.json").read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """A fresh copy of the named schema (see ``SCHEMA_NAMES``); KeyError for an unknown name."""
    schema: dict[str, Any] = json.loads(_load(name))
    return schema


def validate(name: str, payload: dict[str, Any]) -> None:
    """Check ``payload`` against the named schema; raise ``jsonschema.ValidationError`` if it does not fit."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    validator = Draft202012Validator(load_schema(name))
    error = best_match(validator.iter_errors(payload))
    if error is not None:
        raise error
