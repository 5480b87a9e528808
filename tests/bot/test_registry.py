"""The registry: built-ins and installed entry points merged, looked up by name, checked on load.

Distributions are "installed" here the way pip leaves them: a module and a `*.dist-info` folder with
METADATA and entry_points.txt on sys.path, which `importlib.metadata` then finds like any other.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from smallbot import registry
from smallbot.project.config import StoreConfig, load_config
from smallbot.errors import ConfigError, StoreError
from smallbot.store import open_store
from smallbot.store.sqlite import SQLiteStore


@pytest.fixture
def install(tmp_path, monkeypatch):
    """install(dist, {group: {name: target}}, {module: source}): a distribution on sys.path for this test."""
    site = tmp_path / "site"

    def install(dist: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]) -> None:
        for module, source in modules.items():
            (site / f"{module}.py").parent.mkdir(parents=True, exist_ok=True)
            (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("".join(
            f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in names.items())
            for group, names in entry_points.items()))
        monkeypatch.syspath_prepend(str(site))
        registry.refresh()

    yield install
    registry.refresh()


def _bot_yml(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "bot.yml"
    path.write_text(textwrap.dedent(text))
    problems: list = []
    load_config(path, problems)
    return [str(p) for p in problems]


def test_built_ins_are_registered_without_importing_them():
    assert {"web", "slack", "terminal"} <= set(registry.connector_names())
    assert "sqlite" in registry.store_names()
    assert registry.registration(registry.CONNECTORS, "slack").origin == "smallbot"
    assert registry.load_connector("web").name == "web"


def test_an_unknown_name_suggests_the_closest_registered_one():
    with pytest.raises(ConfigError, match="no connector named 'slak' is installed: did you mean 'slack'"):
        registry.load_connector("slak")


def test_an_installed_store_backend_is_chosen_by_store_backend(tmp_path, install):
    install("smallbot-elsewhere", {registry.STORES: {"elsewhere": "elsewhere_store:backend"}}, {"elsewhere_store": """
        from pathlib import Path
        from smallbot.store.sqlite import SQLiteStore

        class Elsewhere:
            name = "elsewhere"

            def open(self, root, config, *, create=True):
                return SQLiteStore(Path(root) / "elsewhere.sqlite3")

        backend = Elsewhere()
    """})
    assert "elsewhere" in registry.store_names()
    assert _bot_yml(tmp_path, "store:\n  backend: elsewhere\n") == []
    with open_store(tmp_path, StoreConfig(backend="elsewhere")) as store:
        assert isinstance(store, SQLiteStore) and store.path == tmp_path / "elsewhere.sqlite3"


def test_an_unknown_store_backend_is_a_problem_with_its_line(tmp_path):
    assert _bot_yml(tmp_path, "name: x\nstore:\n  backend: sqlight\n") == [
        "bot.yml:3: unknown store backend 'sqlight' in 'store.backend': did you mean 'sqlite'?"]
    with pytest.raises(StoreError, match="no store backend named 'redis'"):
        open_store(tmp_path, StoreConfig(backend="redis"))


def test_an_installed_connector_owns_its_section(tmp_path, install):
    install("smallbot-echo", {registry.CONNECTORS: {"echo": "echo_connector:connector"}}, {"echo_connector": """
        from dataclasses import dataclass

        @dataclass(frozen=True)
        class EchoConfig:
            prefix: str = ">"

        class Echo:
            name = "echo"

            def read_config(self, section):
                return section.read(EchoConfig)

        connector = Echo()
    """})
    path = tmp_path / "bot.yml"
    path.write_text("echo:\n  prefix: '#'\n")
    problems: list = []
    config = load_config(path, problems)
    assert problems == [] and config.connector("echo").prefix == "#"
    assert _bot_yml(tmp_path, "name: x\necho:\n  prefx: '#'\n") == [
        "bot.yml:3: unknown key 'echo.prefx': did you mean 'echo.prefix'?"]


def test_a_section_no_connector_claims_is_refused_with_a_suggestion(tmp_path):
    assert _bot_yml(tmp_path, "name: x\nslak:\n  enabled: true\n") == [
        "bot.yml:2: unknown key 'slak': did you mean 'slack'?"]
    [problem] = _bot_yml(tmp_path, "teams:\n  app_id: x\n")
    assert problem.startswith("bot.yml:1: unknown key 'teams': known keys:") and "slack" in problem


def test_a_name_registered_twice_is_an_error_naming_both(tmp_path, install):
    install("smallbot-other-slack", {registry.CONNECTORS: {"slack": "other_slack:connector"}},
            {"other_slack": "connector = None\n"})
    with pytest.raises(ConfigError, match="'slack' is registered twice, by smallbot and by smallbot-other-slack"):
        registry.load_connector("slack")
    assert any("registered twice" in p for p in _bot_yml(tmp_path, "slack:\n  enabled: false\n"))


def test_an_object_that_is_not_a_connector_is_refused_on_load(install):
    install("smallbot-broken", {registry.CONNECTORS: {"broken": "broken_connector:connector",
                                                      "crashing": "crashing_connector:connector"}},
            {"broken_connector": "class Broken:\n    name = 'broken'\nconnector = Broken()\n",
             "crashing_connector": "raise RuntimeError('no licence key')\n"})
    with pytest.raises(ConfigError, match="'broken' from smallbot-broken .* is not a ConnectorPlugin: it lacks "
                                          "read_config"):
        registry.load_connector("broken")
    with pytest.raises(ConfigError, match="'crashing' from smallbot-broken .* failed to load: RuntimeError: no "
                                          "licence key"):
        registry.load_connector("crashing")
