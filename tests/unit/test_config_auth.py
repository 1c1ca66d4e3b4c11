"""The identity and access settings: validated at load, errors name the variable."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from flychat.config import ENV_VARIABLES, ConfigError, load_settings
from flychat.domain.ratelimit import Rate
from tests.support.tokens import SECRET, ec_pair, rsa_pair


def error_of(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return str(caught.value)


def test_auth_is_off_by_default() -> None:
    settings = load_settings({})
    assert not settings.auth_enabled
    assert settings.auth_leeway_seconds == 30
    assert settings.post_rate is None and settings.cors_origins == ()


def test_secret_turns_auth_on() -> None:
    settings = load_settings({"FLYCHAT_AUTH_SECRET": SECRET})
    assert settings.auth_enabled and settings.auth_secret == SECRET


def test_short_secret_names_the_variable() -> None:
    assert error_of({"FLYCHAT_AUTH_SECRET": "x" * 31}).startswith("FLYCHAT_AUTH_SECRET:")


def test_public_key_is_read_from_the_path(tmp_path: Path) -> None:
    _, pem = rsa_pair()
    path = tmp_path / "key.pem"
    path.write_text(pem)
    settings = load_settings({"FLYCHAT_AUTH_PUBLIC_KEY": str(path)})
    assert settings.auth_enabled and settings.auth_public_key == pem
    _, ec_pem = ec_pair()
    path.write_text(ec_pem)
    assert load_settings({"FLYCHAT_AUTH_PUBLIC_KEY": str(path)}).auth_public_key == ec_pem


def test_unreadable_or_invalid_key_names_the_variable(tmp_path: Path) -> None:
    missing = error_of({"FLYCHAT_AUTH_PUBLIC_KEY": str(tmp_path / "nope.pem")})
    assert missing.startswith("FLYCHAT_AUTH_PUBLIC_KEY: cannot read")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert error_of({"FLYCHAT_AUTH_PUBLIC_KEY": str(garbage)}).startswith(
        "FLYCHAT_AUTH_PUBLIC_KEY: not a PEM public key"
    )
    assert error_of({"FLYCHAT_AUTH_PUBLIC_KEY": str(tmp_path)}).startswith(
        "FLYCHAT_AUTH_PUBLIC_KEY: cannot read"
    )


def test_secret_and_key_together_are_refused(tmp_path: Path) -> None:
    _, pem = rsa_pair()
    (tmp_path / "k.pem").write_text(pem)
    message = error_of(
        {"FLYCHAT_AUTH_SECRET": SECRET, "FLYCHAT_AUTH_PUBLIC_KEY": str(tmp_path / "k.pem")}
    )
    assert message.startswith("FLYCHAT_AUTH_PUBLIC_KEY:") and "not both" in message


def test_other_auth_values_are_parsed() -> None:
    settings = load_settings(
        {
            "FLYCHAT_AUTH_SECRET": SECRET,
            "FLYCHAT_AUTH_ISSUER": "https://id.example",
            "FLYCHAT_AUTH_AUDIENCE": "flychat",
            "FLYCHAT_AUTH_LEEWAY_SECONDS": "5",
            "FLYCHAT_CORS_ORIGINS": "https://App.example, http://localhost:3000/",
            "FLYCHAT_POST_RATE": "10/60",
            "FLYCHAT_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8, ::1",
        }
    )
    assert (settings.auth_issuer, settings.auth_audience) == ("https://id.example", "flychat")
    assert settings.auth_leeway_seconds == 5
    assert settings.cors_origins == ("https://app.example", "http://localhost:3000")
    assert settings.post_rate == Rate(10, 60.0)
    assert settings.trusted_proxies == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLYCHAT_AUTH_LEEWAY_SECONDS", "-1"),
        ("FLYCHAT_AUTH_LEEWAY_SECONDS", "a while"),
        ("FLYCHAT_AUTH_ISSUER", "   "),
        ("FLYCHAT_CORS_ORIGINS", "app.example"),
        ("FLYCHAT_CORS_ORIGINS", "https://app.example/path"),
        ("FLYCHAT_CORS_ORIGINS", "ftp://app.example"),
        ("FLYCHAT_POST_RATE", "10"),
        ("FLYCHAT_POST_RATE", "0/60"),
        ("FLYCHAT_POST_RATE", "ten/60"),
        ("FLYCHAT_POST_RATE", "10/0"),
        ("FLYCHAT_POST_RATE", "10/soon"),
        ("FLYCHAT_TRUSTED_PROXIES", "localhost"),
        ("FLYCHAT_TRUSTED_PROXIES", "10.0.0.0/33"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    assert variable in ENV_VARIABLES
    assert error_of({variable: value}).startswith(f"{variable}:")
