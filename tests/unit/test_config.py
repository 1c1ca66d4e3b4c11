import pytest

from flychat.config import ENV_VARIABLES, ConfigError, Settings, load_settings


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.database_url == "sqlite:///./flychat.db"
    assert settings.store_scheme == "sqlite" and not settings.grip_enabled


def test_values_are_parsed() -> None:
    settings = load_settings(
        {
            "FLYCHAT_DATABASE_URL": "postgresql://u:p@h:5432/db",
            "GRIP_URL": "http://127.0.0.1:5561?iss=pushpin&key=k, "
            "https://api.fanout.io/realm/r?iss=r&key=base64:c2VjcmV0",
            "GRIP_PREFIX": "chat-",
            "FLYCHAT_PORT": "9000",
            "FLYCHAT_KEEPALIVE_SECONDS": "0.5",
            "FLYCHAT_DIRECT_STREAMING": "off",
            "FLYCHAT_SSE_RETRY_MS": "0",
        }
    )
    assert settings.store_scheme == "postgresql"
    assert settings.grip_urls == (
        "http://127.0.0.1:5561?iss=pushpin&key=k",
        "https://api.fanout.io/realm/r?iss=r&key=base64:c2VjcmV0",
    )
    assert settings.grip_prefix == "chat-" and settings.port == 9000
    assert settings.keepalive_seconds == 0.5 and settings.direct_streaming is False
    assert settings.sse_retry_ms == 0 and Settings().sse_retry_ms == 1000


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLYCHAT_PORT", "http"),
        ("FLYCHAT_PORT", "70000"),
        ("FLYCHAT_DATABASE_URL", "mysql://x"),
        ("FLYCHAT_DATABASE_URL", "dynamodb://?region=x"),
        ("FLYCHAT_DATABASE_URL", "dynamodb://t?region=eu-west-1"),
        ("FLYCHAT_DATABASE_URL", "sqlite:///"),
        ("FLYCHAT_DATABASE_URL", "sqlite:///x.db?synchronous=bogus"),
        ("FLYCHAT_DATABASE_URL", "postgresql://u@h:abc/db"),
        ("GRIP_URL", "ftp://proxy"),
        ("GRIP_URL", "http://127.0.0.1:5561?iss=pushpin&key=base64:@@@"),
        ("GRIP_URL", "http://127.0.0.1:5561?iss=pushpin&key="),
        ("GRIP_URL", "http://127.0.0.1:5561"),
        ("GRIP_URL", "http://127.0.0.1:5561?iss=pushpin&key=k&zmq=tcp://10.1.2.3:5560"),
        ("GRIP_PREFIX", "a b"),
        ("FLYCHAT_HISTORY_SIZE", "0"),
        ("FLYCHAT_RETENTION", "-5"),
        ("FLYCHAT_KEEPALIVE_SECONDS", "soon"),
        ("FLYCHAT_DIRECT_STREAMING", "maybe"),
        ("FLYCHAT_LOG_LEVEL", "loud"),
        ("FLYCHAT_PRESENCE_TTL", "1"),
        ("FLYCHAT_PRESENCE_TTL", "soon"),
        ("FLYCHAT_PRESENCE_SWEEP_SECONDS", "0"),
        ("FLYCHAT_PRESENCE_SWEEP_SECONDS", "60"),
        ("FLYCHAT_SSE_RETRY_MS", "600001"),
        ("FLYCHAT_SSE_RETRY_MS", "-1"),
        ("FLYCHAT_SSE_RETRY_MS", "1.5"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert str(caught.value).startswith(f"{variable}:")


def test_history_cannot_exceed_retention() -> None:
    with pytest.raises(ConfigError, match="FLYCHAT_HISTORY_SIZE"):
        load_settings({"FLYCHAT_HISTORY_SIZE": "100", "FLYCHAT_RETENTION": "50"})


def test_direct_streaming_off_needs_a_proxy() -> None:
    with pytest.raises(ConfigError, match="FLYCHAT_DIRECT_STREAMING"):
        load_settings({"FLYCHAT_DIRECT_STREAMING": "false"})


def test_every_variable_is_documented_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [name for name in ENV_VARIABLES if f"`{name}`" not in readme]
    assert missing == []


def test_metrics_and_log_format_settings() -> None:
    assert load_settings({}).metrics is True and load_settings({}).log_format == "text"
    settings = load_settings({"FLYCHAT_METRICS": "false", "FLYCHAT_LOG_FORMAT": " JSON "})
    assert settings.metrics is False and settings.log_format == "json"
    assert load_settings({"FLYCHAT_METRICS": "on", "FLYCHAT_LOG_FORMAT": "text"}).metrics is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLYCHAT_METRICS", "sometimes"),
        ("FLYCHAT_METRICS", "2"),
        ("FLYCHAT_LOG_FORMAT", "xml"),
        ("FLYCHAT_LOG_FORMAT", "logfmt"),
    ],
)
def test_bad_metrics_or_log_format_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert str(caught.value).startswith(f"{variable}:")
