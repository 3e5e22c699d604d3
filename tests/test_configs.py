"""Finding experiment configs by path or by name, from a checkout and from the packaged copy."""

import zipfile
from pathlib import Path

import pytest

from supermasks.config import shipped as _configs
from supermasks.config.shipped import ConfigNotFoundError, find_config, shipped_configs

from tests.wheels import build_wheel

ROOT = Path(__file__).resolve().parents[1]


def test_a_bare_name_finds_the_repository_config() -> None:
    expected = ROOT / "configs" / "experiment1.yaml"
    assert find_config("experiment1") == expected
    assert find_config("experiment1.yaml") == expected


def test_an_existing_path_is_taken_as_it_is(tmp_path: Path) -> None:
    own = tmp_path / "experiment1.yaml"
    own.write_text("seed: 3\n")
    assert find_config(own) == own


def test_the_documented_relative_path_works_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config("configs/compare.yaml") == ROOT / "configs" / "compare.yaml"


def test_an_unknown_name_lists_the_shipped_configs() -> None:
    with pytest.raises(ConfigNotFoundError, match="shipped configs: .*experiment1") as info:
        find_config("experiment9")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(ConfigNotFoundError):
        find_config("elsewhere/experiment1.yaml")  # a path into another folder is never redirected


def test_shipped_configs_are_the_repository_yaml_files() -> None:
    assert shipped_configs() == sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))


def test_the_packaged_copy_is_used_without_a_checkout(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "experiment1.yaml").write_text("seed: 0\n")
    monkeypatch.setattr(_configs, "_repository_configs", lambda: None)
    monkeypatch.setattr(_configs, "_packaged_configs", lambda: tmp_path)
    assert find_config("experiment1") == tmp_path / "experiment1.yaml"
    assert shipped_configs() == ["experiment1"]


@pytest.mark.slow
def test_the_wheel_ships_every_config(tmp_path: Path) -> None:
    """Build the wheel (as `pip wheel` would) and look inside: configs/*.yaml as package data."""
    pytest.importorskip("setuptools", minversion="77")
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    expected = {f"supermasks/configs/{p.name}" for p in (ROOT / "configs").glob("*.yaml")}
    assert expected <= set(names)
    assert any(n.endswith("/licenses/LICENSE") for n in names)
    # mnist-5k's images, the very bytes of the checkout's copy, with the NOTICE giving their origin and licence.
    with zipfile.ZipFile(wheel) as archive:
        data = ROOT / "src" / "supermasks" / "data" / "files"
        for name in ("mnist_5k.csv.gz", "NOTICE"):
            assert archive.read(f"supermasks/data/files/{name}") == (data / name).read_bytes()
