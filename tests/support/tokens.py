"""Signing test tokens: the HS256 secret the auth tests share, and key pairs."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SECRET = "test-secret-that-is-at-least-32-bytes-long"


def claims(sub: str = "alice", ttl: float = 3600, **extra: Any) -> dict[str, Any]:
    """Claims for ``sub`` expiring in ``ttl`` seconds; ``extra`` adds or replaces claims."""
    out: dict[str, Any] = {"sub": sub, "exp": int(time.time() + ttl)}
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def hs256(secret: str = SECRET, **kwargs: Any) -> str:
    """An HS256 token with ``claims(**kwargs)``."""
    return jwt.encode(claims(**kwargs), secret, algorithm="HS256")


def grant(sub: str = "alice", read: Any = ("*",), post: Any = ("*",), **kwargs: Any) -> str:
    """An HS256 token granting ``read`` and ``post`` rooms."""
    return hs256(sub=sub, rooms={"read": list(read), "post": list(post)}, **kwargs)


def rsa_pair() -> tuple[Any, str]:
    """A fresh RSA private key and its public key as PEM text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, _pem(key.public_key())


def ec_pair(curve: ec.EllipticCurve | None = None) -> tuple[Any, str]:
    """A fresh EC private key (P-256 unless ``curve``) and its public key as PEM text."""
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return key, _pem(key.public_key())


def _pem(public: Any) -> str:
    data: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data.decode()
