"""Provider metadata: Airflow's schema, the entry point, conn-fields vs extras, ProvidersManager."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema
import pytest
from packaging.version import Version

from airflow_provider_quo import __version__
from airflow_provider_quo.get_provider_info import HOOK_CLASS, get_provider_info
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.hooks.settings import CONNECTION_EXTRAS

PACKAGE = "airflow-provider-quo"


@pytest.fixture(scope="module")
def info() -> dict:
    return get_provider_info()


@pytest.fixture(scope="module")
def connection_type(info) -> dict:
    (conn,) = info["connection-types"]
    return conn


def test_validates_against_airflow_schema(info):
    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    assert schema_path.is_file()
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(info, schema)


def test_basic_fields(info):
    assert info["package-name"] == PACKAGE
    assert info["versions"] == [__version__]
    assert info["name"] == "Quo"


def test_entry_point_resolves_to_get_provider_info():
    matches = [ep for ep in entry_points(group="apache_airflow_provider") if ep.dist and ep.dist.name == PACKAGE]
    assert len(matches) == 1
    assert matches[0].value == "airflow_provider_quo.get_provider_info:get_provider_info"
    assert matches[0].load() is get_provider_info


def test_listed_modules_import(info):
    modules = [m for section in ("hooks", "operators") for entry in info[section] for m in entry["python-modules"]]
    assert "airflow_provider_quo.hooks.quo" in modules
    for module in modules:
        importlib.import_module(module)


def test_connection_type_points_at_the_hook(connection_type):
    assert connection_type["connection-type"] == "quo"
    module_name, _, class_name = connection_type["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module_name), class_name) is QuoHook
    assert QuoHook.conn_type == "quo"
    assert QuoHook.hook_name == connection_type["hook-name"]


def test_conn_fields_match_connection_extras(connection_type):
    assert set(connection_type["conn-fields"]) == set(CONNECTION_EXTRAS)
    assert len(CONNECTION_EXTRAS) == len(set(CONNECTION_EXTRAS))


def _settings_with_extra(monkeypatch, extra: dict) -> dict:
    connection = {"conn_type": "quo", "password": "k", "host": "https://h.test", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_FIELDS", json.dumps(connection))
    return vars(QuoHook(quo_conn_id="quo_fields").settings)


def test_every_declared_conn_field_is_read_by_the_hook(connection_type, monkeypatch):
    """Setting a conn-field in the connection's extra changes what the hook uses: none is decorative."""
    defaults = _settings_with_extra(monkeypatch, {})
    samples = {"rate_limit_url": "redis://127.0.0.1:6379/0"}  # the only non-numeric field
    for name in connection_type["conn-fields"]:
        changed = _settings_with_extra(monkeypatch, {name: samples.get(name, 3)})
        moved = {key for key in defaults if changed[key] != defaults[key]}
        assert moved, f"conn-field {name!r} is declared but the hook ignores it"


def test_conn_field_schemas_accept_defaults_and_reject_nonsense(connection_type):
    fields = dict(connection_type["conn-fields"])
    url_schema = fields.pop("rate_limit_url")["schema"]
    for url in (None, "redis://127.0.0.1:6379/0", "rediss://:pw@redis.example:6380", "redis://h/"):
        jsonschema.validate(url, url_schema)
    for nonsense in ("abc", 10, "http://h:6379/0", "redis://h:6379/zero"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(nonsense, url_schema)
    for field in fields.values():
        assert field["label"]
        assert field["description"]
        jsonschema.validate(None, field["schema"])
        jsonschema.validate(10, field["schema"])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(0, field["schema"])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate("abc", field["schema"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(2.5, fields["retry_limit"]["schema"])


def test_ui_field_behaviour(connection_type):
    behaviour = connection_type["ui-field-behaviour"]
    assert set(behaviour["hidden-fields"]) == {"login", "schema", "port"}
    assert behaviour["relabeling"]["password"] == "API key"
    assert "password" not in behaviour["hidden-fields"]
    assert "host" not in behaviour["hidden-fields"]


def test_providers_manager_lists_package_and_connection_type():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert PACKAGE in manager.providers
    assert manager.providers[PACKAGE].version == __version__
    with warnings.catch_warnings():  # Airflow 3.2+ deprecates .hooks in favour of the task-SDK manager
        warnings.simplefilter("ignore")
        hook_info = manager.hooks["quo"]
    assert hook_info is not None
    assert hook_info.hook_class_name == HOOK_CLASS
    assert hook_info.package_name == PACKAGE
    assert hook_info.connection_id_attribute_name == "quo_conn_id"
    assert hook_info.connection_testable is True
    if Version(airflow.__version__) < Version("3.2") and importlib.util.find_spec("flask_appbuilder") is None:
        return  # Airflow 3.1 builds form metadata from hooks only with flask_appbuilder: see the next test
    widgets = manager.connection_form_widgets
    assert {f"extra__quo__{name}" for name in CONNECTION_EXTRAS} <= set(widgets)
    assert manager.field_behaviours["quo"]["relabeling"]["password"] == "API key"


def test_hook_field_behaviour_for_airflow_3_1_mirrors_the_provider_info(connection_type):
    """Airflow 3.1 reads the connection form from the hook; it must say what the provider info says."""
    behaviour = QuoHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == connection_type["ui-field-behaviour"]["hidden-fields"]
    assert behaviour["relabeling"] == connection_type["ui-field-behaviour"]["relabeling"]
    assert behaviour["placeholders"] == connection_type["ui-field-behaviour"]["placeholders"]


def test_hook_form_widgets_for_airflow_3_1_mirror_the_conn_fields(connection_type):
    pytest.importorskip("wtforms", reason="Airflow builds hook form widgets only where wtforms (FAB) is installed")
    widgets = QuoHook.get_connection_form_widgets()
    assert set(widgets) == set(connection_type["conn-fields"])
    for name, field in widgets.items():
        assert field.args[0] == connection_type["conn-fields"][name]["label"]


@pytest.mark.integration
def test_airflow_providers_list_cli():
    airflow_bin = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow_bin), "providers", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    start = result.stdout.index('[{"')  # log lines (with "[warning ]") may precede the JSON
    providers, _ = json.JSONDecoder().raw_decode(result.stdout[start:])
    ours = [p for p in providers if p.get("package_name") == PACKAGE]
    assert len(ours) == 1
    assert ours[0]["version"] == __version__
