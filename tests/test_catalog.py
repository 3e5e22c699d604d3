"""The torch-free catalogue that `supermasks list` prints equals the registries beside the code."""

from supermasks.config import catalog
from supermasks.data import list_benchmarks, list_sources
from supermasks.methods import list_methods
from supermasks.models import list_models
from supermasks.scenarios import SCENARIOS


def test_methods_match_the_registry() -> None:
    assert catalog.METHODS == list_methods()


def test_benchmarks_match_the_registry() -> None:
    assert catalog.BENCHMARKS == list_benchmarks()


def test_sources_match_the_registry() -> None:
    assert catalog.SOURCES == {s.name: s.description for s in list_sources()}


def test_models_match_the_registry() -> None:
    assert catalog.MODELS == list_models()


def test_sections_cover_every_table_in_order() -> None:
    assert list(catalog.sections()) == ["benchmarks", "data sources", "models", "methods", "scenarios",
                                        "your own (docs/own-network.md)"]
    assert catalog.sections()["scenarios"] is SCENARIOS


def test_the_own_section_names_the_keys_the_example_config_uses() -> None:
    import re
    from pathlib import Path

    import yaml

    example = yaml.safe_load((Path(__file__).parent.parent / "examples" / "own_config.yaml").read_text())
    for entry in catalog.OWN:
        section, key = entry.split(":")[0].split(".")
        assert re.fullmatch(r"[\w.]+:\w+", example[section][key]), entry  # an import path, as listed
    assert example["data"]["benchmark"] == ["own"]
