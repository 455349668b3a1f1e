import os

import pytest

from runtime.config import BUILTIN_MODULES, Settings, load_settings, ocr_pool
from runtime.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.upper().startswith("ROBOFLEET_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def write(tmp_path, text: str):
    path = tmp_path / "robofleet.toml"
    path.write_text(text)
    return path


MODULES_TOML = """
gateway_port = 7000

[[modules]]
name = "ocr"
class = "runtime.builtin:Echo"
types = ["ocr"]
replicas = 3
max_concurrency = 2
resources = { CPU = 0.5 }
options = { lang = "deu" }

[[modules]]
name = "mail"
class = "runtime.builtin:Sleep"
"""


def test_defaults_without_env_or_file():
    settings = load_settings()
    assert settings.gateway_port == 8080
    assert settings.database_url is None
    assert [m.name for m in settings.modules] == [m.name for m in BUILTIN_MODULES]
    assert settings.gateway_url() == "http://127.0.0.1:8080"


def test_env_vars_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("ROBOFLEET_GATEWAY_PORT", "9090")
    monkeypatch.setenv("ROBOFLEET_DATABASE_URL", "postgresql://u@db/robofleet")
    monkeypatch.setenv("ROBOFLEET_BREAKER_RESET_S", "2.5")
    monkeypatch.setenv("ROBOFLEET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROBOFLEET_GATEWAY_HOST", "0.0.0.0")
    settings = load_settings()
    assert settings.gateway_port == 9090
    assert settings.database_url == "postgresql://u@db/robofleet"
    assert settings.breaker_reset_s == 2.5
    assert settings.data_dir == tmp_path / "data"
    assert settings.gateway_url() == "http://127.0.0.1:9090"


def test_env_vars_are_case_insensitive(monkeypatch):
    monkeypatch.setenv("robofleet_namespace", "blue")
    assert load_settings().namespace == "blue"


def test_toml_modules_are_loaded(tmp_path):
    settings = load_settings(write(tmp_path, MODULES_TOML))
    assert settings.gateway_port == 7000
    ocr, mail = settings.modules
    assert ocr.name == "ocr" and ocr.class_path == "runtime.builtin:Echo"
    assert ocr.types == ["ocr"] and ocr.replicas == 3 and ocr.max_concurrency == 2
    assert ocr.resources == {"CPU": 0.5} and ocr.options == {"lang": "deu"}
    assert mail.class_path == "runtime.builtin:Sleep" and mail.replicas == 1


def test_config_file_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ROBOFLEET_CONFIG_FILE", str(write(tmp_path, MODULES_TOML)))
    assert [m.name for m in load_settings().modules] == ["ocr", "mail"]


def test_file_without_modules_keeps_default_modules(tmp_path):
    settings = load_settings(write(tmp_path, "namespace = 'green'\n"))
    assert settings.namespace == "green"
    assert [m.name for m in settings.modules] == ["echo", "sleep"]
    pool = ocr_pool("runtime.builtin:Echo")
    deployed = load_settings(
        write(tmp_path, "namespace = 'green'\n"), default_modules=[*BUILTIN_MODULES, pool]
    )
    assert [m.name for m in deployed.modules] == ["echo", "sleep", "ocr"]


def test_default_modules_give_way_to_configured_ones(tmp_path):
    pool = [ocr_pool("runtime.builtin:Echo")]
    from_file = load_settings(write(tmp_path, MODULES_TOML), default_modules=pool)
    assert [m.name for m in from_file.modules] == ["ocr", "mail"]
    echo = BUILTIN_MODULES[0].model_dump(by_alias=True)
    from_override = load_settings(default_modules=pool, modules=[echo])
    assert [m.name for m in from_override.modules] == ["echo"]


def test_env_beats_file_and_overrides_beat_env(monkeypatch, tmp_path):
    path = write(tmp_path, MODULES_TOML)
    monkeypatch.setenv("ROBOFLEET_GATEWAY_PORT", "9090")
    assert load_settings(path).gateway_port == 9090
    assert load_settings(path, gateway_port=1234).gateway_port == 1234


def test_settings_is_typed():
    assert isinstance(load_settings(), Settings)


@pytest.mark.parametrize(
    "text",
    [
        "gateway_port = ",  # not TOML
        "gateway_port = 'not a number'\n",
        "sqlite_synchronous = 'SOMETIMES'\n",
        "[[modules]]\nname = 'Bad Name'\nclass = 'runtime.builtin:Echo'\n",
        "[[modules]]\nname = 'ocr'\n",  # no class
        "[[modules]]\nname = 'ocr'\nclass = 'runtime.builtin:Echo'\nreplicas = -1\n",
    ],
)
def test_bad_file_gives_config_error(tmp_path, text):
    with pytest.raises(ConfigError):
        load_settings(write(tmp_path, text))


def test_missing_file_gives_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.toml")


def test_bad_env_value_gives_config_error(monkeypatch):
    monkeypatch.setenv("ROBOFLEET_GATEWAY_PORT", "eighty")
    with pytest.raises(ConfigError, match="gateway_port"):
        load_settings()
