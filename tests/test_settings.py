"""Settings: one file, validated once, overridden by TWIN_* variables, clear about mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from settings import DEFAULT_SETTINGS_FILE, SettingsError, load_settings


def write(tmp_path: Path, data: object | str) -> Path:
    path = tmp_path / "settings.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_packaged_settings_load_with_the_embedded_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={"TWIN_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'twin.db'}"
    assert settings.sensors_database_url == settings.database_url
    assert settings.broker_url.startswith("sqla+sqlite:///")
    assert settings.embedded_broker
    assert settings.log_path == tmp_path.resolve() / "twin_logs.txt"
    assert settings.web.port == 8050


def test_every_key_of_the_packaged_file_is_a_known_setting() -> None:
    # extra="forbid" makes an unknown key fail; this proves the shipped file is complete and valid
    data = json.loads(DEFAULT_SETTINGS_FILE.read_text())
    load_settings(environ={}, **{})
    assert {"database", "broker", "logging", "smtp", "tariffs", "model", "thresholds"} <= set(data)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {
        "TWIN_HOME": str(tmp_path),
        "TWIN_DATABASE_URL": "postgresql+psycopg://u@db/twin",
        "TWIN_SENSORS_DATABASE_URL": "postgresql+psycopg://u@historian/plant",
        "TWIN_BROKER_URL": "redis://redis:6379/0",
        "TWIN_SMTP_URL": "smtp://mail:25",
        "TWIN_LOG_LEVEL": "debug",
        "TWIN_WEB_PORT": "9000",
    }
    settings = load_settings(environ=env)
    assert settings.database_url == "postgresql+psycopg://u@db/twin"
    assert settings.sensors_database_url == "postgresql+psycopg://u@historian/plant"
    assert settings.broker_url == "redis://redis:6379/0"
    assert settings.result_backend == "redis://redis:6379/0"
    assert not settings.embedded_broker
    assert settings.smtp.url == "smtp://mail:25"
    assert settings.logging.level == "DEBUG"
    assert settings.web.port == 9000


def test_an_empty_variable_clears_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, {"database": {"url": "sqlite:///x.db"}})
    assert load_settings(path, environ={"TWIN_DATABASE_URL": ""}).database.url is None


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, {"database": {"ulr": "sqlite://"}})
    with pytest.raises(SettingsError, match=r"unknown settings key 'database\.ulr'"):
        load_settings(path, environ={})


def test_wrong_type_names_the_key_and_its_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"'web\.port' \(or TWIN_WEB_PORT\).*'eighty'"):
        load_settings(environ={"TWIN_WEB_PORT": "eighty"})


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "home": "var",\n  "demo": tru\n}')
    with pytest.raises(SettingsError, match="not valid JSON at line 3"):
        load_settings(path, environ={})


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist: restore it"):
        load_settings(tmp_path / "nope.json", environ={})


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="JSON object"):
        load_settings(write(tmp_path, "[1, 2]"), environ={})


def test_no_usable_secret_outside_demo_mode(tmp_path: Path) -> None:
    settings = load_settings(environ={"TWIN_HOME": str(tmp_path)})
    with pytest.raises(SettingsError, match="TWIN_SECRET_KEY"):
        settings.require_secret_key()
    short = load_settings(environ={"TWIN_HOME": str(tmp_path), "TWIN_SECRET_KEY": "changeme"})
    with pytest.raises(SettingsError, match="shorter than 32"):
        short.require_secret_key()


def test_demo_mode_keeps_one_random_secret_in_the_data_home(tmp_path: Path) -> None:
    settings = load_settings(environ={"TWIN_HOME": str(tmp_path), "TWIN_DEMO": "1"})
    first = settings.require_secret_key()
    assert len(first) >= 32
    assert settings.require_secret_key() == first
    key_file = tmp_path / "demo_secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    other = load_settings(environ={"TWIN_HOME": str(tmp_path / "other"), "TWIN_DEMO": "1"})
    assert other.require_secret_key() != first


def test_decimal_settings_are_exact() -> None:
    settings = load_settings(environ={})
    assert str(settings.tariffs.domestic_vat_rate) == "0.05"
    assert str(settings.tariffs.gas_volume_correction) == "1.02264"
