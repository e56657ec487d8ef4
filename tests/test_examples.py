"""The shipped example configurations load, and the configuration reference matches the settings model."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from gateway.config import ENV_PREFIX, load_settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.toml"))


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_reference", REPO / "docs" / "gen_config_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_examples_are_shipped() -> None:
    assert [path.name for path in EXAMPLES] == ["base-station.toml", "vehicle.toml"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_loads(path: Path) -> None:
    settings = load_settings(path)
    assert settings.spool.path == Path("/var/lib/patrol-gateway/spool.db")
    assert settings.mqtt.tls


def test_vehicle_example() -> None:
    settings = load_settings(REPO / "examples" / "vehicle.toml")
    assert settings.gnss.port == "/dev/ttyACM0"
    assert settings.gnss.baud == "auto"
    assert settings.gateway.unit is not None
    assert [(radio.port, radio.baud) for radio in settings.radios] == [("/dev/ttyUSB0", 38400)]
    assert settings.mqtt.ca_file is not None


def test_base_station_example() -> None:
    settings = load_settings(REPO / "examples" / "base-station.toml")
    assert settings.gnss.port is None
    assert len(settings.radios) == 2
    assert settings.unit_for(2001017) == "PATROL-17"
    # "status n" = 0x8002 + n: status 0 available, 1 en route, 2 on scene.
    assert settings.status_codes["8002"] == "Available"
    assert settings.status_codes["8003"] == "En route"
    assert settings.status_codes["8004"] == "On scene"


def test_configuration_reference_is_up_to_date() -> None:
    generator = _generator()
    document = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert generator.splice(document, generator.render()) == document, (
        "docs/configuration.md is out of date: run `python docs/gen_config_reference.py --write`"
    )


def test_configuration_reference_names_every_key() -> None:
    from pydantic import BaseModel

    from gateway.config import RadioSection, Settings

    rendered = _generator().render()

    def keys(model: type[BaseModel]) -> list[str]:
        out: list[str] = []
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                out += keys(annotation)
            else:
                out.append(name)
        return out

    for key in keys(Settings) + keys(RadioSection):
        assert any(f"`{form}`" in rendered for form in (key, f"[{key}]", f"[[{key}]]")), key
