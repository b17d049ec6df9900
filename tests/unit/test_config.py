"""Settings from a TOML file and the environment: defaults, typos, bad values, the token."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from harvester.config import DEFAULT_ENDPOINT, Settings, load_settings
from harvester.errors import ConfigError, ExitCode

TOKEN = "tok_S3CRET-value-that-must-never-leak"
ENV = {"ABSTRA_API_TOKEN": TOKEN}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "harvester.toml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text), env=ENV if env is None else env)
    message = str(info.value)
    assert "\n" not in message, "config errors are one line"
    assert info.value.exit_code == ExitCode.CONFIG
    return message


def test_empty_file_gives_the_documented_defaults(tmp_path):
    settings = load_settings(_write(tmp_path, ""), env={})
    assert settings.abstra.endpoint == DEFAULT_ENDPOINT
    assert settings.abstra.connection == "abstra-manager"
    assert settings.abstra.token is None
    assert settings.abstra.timeout_seconds == 300.0
    h = settings.harvest
    assert h.start == datetime(2025, 1, 1, tzinfo=UTC)
    assert h.streams is None  # every stream of every enabled source
    assert h.lookback == timedelta(hours=2)
    assert (h.slice_days, h.consumption_period_days, h.page_size, h.concurrency) == (31, 1, 500, 8)
    assert settings.warehouse.duckdb == (tmp_path / "warehouse.duckdb").resolve()


def test_no_file_at_all_gives_defaults_and_keeps_a_relative_warehouse(tmp_path):
    settings = load_settings(None, env={})
    assert settings.warehouse.duckdb == Path("warehouse.duckdb")


def test_file_values_are_read_and_typed(tmp_path):
    settings = load_settings(
        _write(
            tmp_path,
            """
[abstra]
connection = "manager-2"
max_retries = 2
[harvest]
start = 2025-03-01T10:00:00+02:00
streams = ["executions", "members", "executions"]
lookback = "30m"
slice_days = 7
concurrency = 3
[warehouse]
duckdb = "/var/lib/h/w.duckdb"
""",
        ),
        env=ENV,
    )
    assert settings.abstra.connection == "manager-2"
    assert settings.harvest.start == datetime(2025, 3, 1, 8, tzinfo=UTC)
    assert settings.harvest.streams == ("executions", "members")
    assert settings.harvest.lookback == timedelta(minutes=30)
    assert settings.harvest.slice_days == 7
    assert settings.warehouse.duckdb == Path("/var/lib/h/w.duckdb")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ('"2025-03-01"', datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        ('"2025-03-01T12:30"', datetime(2025, 3, 1, 12, 30, tzinfo=UTC)),
        ("2025-03-01T12:30:00", datetime(2025, 3, 1, 12, 30, tzinfo=UTC)),
    ],
    ids=["string-date", "toml-date", "naive-string", "toml-local-datetime"],
)
def test_start_accepts_dates_and_datetimes_naive_meaning_utc(tmp_path, start, expected):
    settings = load_settings(_write(tmp_path, f"[harvest]\nstart = {start}\n"), env={})
    assert settings.harvest.start == expected


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[harvest]\nlookbak = '2h'\n", "[harvest] lookbak"),
        ("[abstra]\nconection = 'x'\n", "[abstra] conection"),
        ("[warehouse]\npath = 'x.duckdb'\n", "[warehouse] path"),
        ("[harvset]\nstart = '2025-01-01'\n", "harvset"),
    ],
)
def test_unknown_key_is_an_error_naming_it(tmp_path, text, where):
    message = _error(tmp_path, text)
    assert where in message
    assert "unknown key" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[harvest]\nslice_days = 40\n", ["[harvest] slice_days", "31"]),
        ("[harvest]\nslice_days = 0\n", ["[harvest] slice_days", "1"]),
        ("[harvest]\nconcurrency = -1\n", ["[harvest] concurrency", "greater than or equal to 1"]),
        ("[harvest]\nstreams = ['executions', 'audit_logs']\n", ["[harvest] streams", "unknown stream 'audit_logs'"]),
        ("[harvest]\nstreams = ['executions', 3]\n", ["[harvest] streams", "string"]),
        ("[harvest]\nlookback = 'soon'\n", ["[harvest] lookback", "'soon'", "30m"]),
        ("[harvest]\nlookback = '99999999999d'\n", ["[harvest] lookback", "too long"]),
        ("[harvest]\nstart = 'next tuesday'\n", ["[harvest] start", "YYYY-MM-DD"]),
        ("[harvest]\nstart = '0001-01-01T00:00+01:00'\n", ["[harvest] start", "out of range"]),
        ("[harvest]\npage_size = 'many'\n", ["[harvest] page_size", "integer"]),
        ("[abstra]\nendpoint = 'cloud-api.abstra.cloud'\n", ["[abstra] endpoint", "http"]),
        ("[abstra]\nconnection = '..'\n", ["[abstra] connection", "'..'"]),
        ("[abstra]\nconnection = ''\n", ["[abstra] connection"]),
        ("abstra = 5\n", ["abstra", "table"]),
        ("harvest = 'x'\n", ["harvest"]),
        ("[harvest\n", ["not valid TOML"]),
    ],
)
def test_bad_value_is_a_one_line_error_saying_what_is_wrong(tmp_path, text, expected):
    message = _error(tmp_path, text)
    for part in expected:
        assert part in message
    assert "input_value" not in message and "pydantic" not in message


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_token_comes_from_the_environment_only(tmp_path):
    settings = load_settings(_write(tmp_path, ""), env=ENV)
    assert settings.require_token().get_secret_value() == TOKEN


def test_token_in_the_file_is_an_error_that_does_not_echo_it(tmp_path):
    message = _error(tmp_path, f"[abstra]\ntoken = '{TOKEN}'\n", env={})
    assert "[abstra] token" in message and "ABSTRA_API_TOKEN" in message
    assert TOKEN not in message


def test_missing_token_is_a_config_error_naming_the_variable(tmp_path):
    for env in ({}, {"ABSTRA_API_TOKEN": ""}):
        settings = load_settings(_write(tmp_path, ""), env=env)
        with pytest.raises(ConfigError, match="ABSTRA_API_TOKEN"):
            settings.require_token()


@pytest.mark.parametrize(
    "text",
    [
        "[harvest]\nslice_days = 40\n",
        "[harvest]\nlookbak = '2h'\n",
        "[abstra]\nendpoint = 'ftp://x'\n",
        "[abstra]\ntimeout_seconds = -1\n",
        "[abstra]\nconnection = '..'\n",
    ],
)
def test_token_never_appears_in_a_config_error_or_its_traceback(tmp_path, text):
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text), env=ENV)
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)
    assert TOKEN not in "".join(traceback.format_exception(info.value))


def test_token_never_appears_in_the_settings_repr_or_dump(tmp_path):
    settings = load_settings(_write(tmp_path, ""), env=ENV)
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)
    assert TOKEN not in repr(settings.abstra)
    assert TOKEN not in str(settings.model_dump())
    assert TOKEN not in settings.model_dump_json()


def test_cloud_api_endpoint_overrides_the_file(tmp_path):
    path = _write(tmp_path, "[abstra]\nendpoint = 'https://file.example'\n")
    settings = load_settings(path, env={**ENV, "CLOUD_API_ENDPOINT": "http://localhost:8080/"})
    assert settings.abstra.endpoint == "http://localhost:8080"
    assert load_settings(path, env=ENV).abstra.endpoint == "https://file.example"


def test_a_bad_cloud_api_endpoint_is_a_config_error(tmp_path):
    message = _error(tmp_path, "", env={**ENV, "CLOUD_API_ENDPOINT": "localhost:8080"})
    assert "[abstra] endpoint" in message


def test_relative_duckdb_path_is_resolved_against_the_config_folder(tmp_path, monkeypatch):
    config_dir = tmp_path / "etc" / "harvester"
    config_dir.mkdir(parents=True)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = config_dir / "harvester.toml"
    path.write_text("[warehouse]\nduckdb = '../data/w.duckdb'\n")
    settings = load_settings(path, env={})
    assert settings.warehouse.duckdb == (tmp_path / "etc" / "data" / "w.duckdb").resolve()
    assert settings.warehouse.duckdb.is_absolute()


def test_overrides_are_validated_like_the_file(tmp_path):
    path = _write(tmp_path, "[harvest]\nslice_days = 7\n")
    settings = load_settings(path, env={}, harvest={"streams": ["members"]})
    assert settings.harvest.streams == ("members",) and settings.harvest.slice_days == 7
    with pytest.raises(ConfigError, match="unknown stream"):
        load_settings(path, env={}, harvest={"streams": ["nope"]})


def test_overrides_on_a_section_that_is_not_a_table_are_a_config_error(tmp_path):
    path = _write(tmp_path, "harvest = 3\n")
    with pytest.raises(ConfigError, match="harvest"):
        load_settings(path, env={}, harvest={"streams": ["members"]})


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.harvest.slice_days = 3  # type: ignore[misc]
