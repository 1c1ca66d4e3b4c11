"""JWT access tokens with PyJWT: HS256 with a shared secret, or RS256/ES256 with a public key."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from flychat.domain.access import Caller, NotAuthenticated, caller_from_claims

MIN_SECRET_BYTES = 32
CACHE_SIZE = 10_000


def public_key_algorithms(pem: str) -> tuple[Any, list[str]]:
    """The loaded key of a PEM public key and the one algorithm it verifies.

    RSA keys verify RS256, P-256 keys ES256; raise ValueError for anything else.
    """
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key ({exc})") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError("RSA keys must have at least 2048 bits")
        return key, ["RS256"]
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key, ["ES256"]
    raise ValueError("must be an RSA key (RS256) or a P-256 EC key (ES256)")


def check_secret(secret: str) -> str:
    """Return the HS256 secret, or raise ValueError when it is shorter than 32 bytes."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes long")
    return secret


@dataclass(frozen=True, slots=True)
class _Verified:
    caller: Caller
    not_before: float | None


def _not_before(claims: dict[str, Any]) -> float | None:
    nbf = claims.get("nbf")
    if nbf is None:
        return None
    if isinstance(nbf, bool) or not isinstance(nbf, int | float) or not math.isfinite(nbf):
        raise NotAuthenticated("claim 'nbf' must be a number", token_given=True)
    return float(nbf)


class JwtVerifier:
    """The ``TokenVerifier`` port: signature, ``iss``/``aud`` when configured, ``exp``, ``nbf``.

    Verified tokens are remembered (up to ``CACHE_SIZE``) so a client sending the same
    token again costs a dictionary look-up; ``exp`` and ``nbf`` are checked on every use.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (secret is None) == (public_key is None):
            raise ValueError("give exactly one of secret and public_key")
        if secret is not None:
            self._key: Any = check_secret(secret)
            self._algorithms = ["HS256"]
        else:
            assert public_key is not None
            self._key, self._algorithms = public_key_algorithms(public_key)
        self._issuer = issuer
        self._audience = audience
        self.leeway = leeway_seconds
        self._clock = clock
        self._cache: dict[str, _Verified] = {}

    def verify(self, token: str) -> Caller:
        """The Caller of a valid token; raise NotAuthenticated saying why it is not."""
        found = self._cache.get(token)
        if found is None:
            found = self._decode(token)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[token] = found
        now = self._clock()
        if now >= found.caller.expires + self.leeway:
            raise NotAuthenticated("the token has expired", token_given=True)
        if found.not_before is not None and now < found.not_before - self.leeway:
            raise NotAuthenticated("the token is not valid yet (nbf)", token_given=True)
        return found.caller

    def _decode(self, token: str) -> _Verified:
        options: dict[str, Any] = {
            "require": ["exp", "sub"],
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
            "verify_aud": self._audience is not None,
            "verify_iss": self._issuer is not None,
        }
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                options=options,  # type: ignore[arg-type]
                audience=self._audience,
                issuer=self._issuer,
            )
        except jwt.MissingRequiredClaimError as exc:
            raise NotAuthenticated(f"claim '{exc.claim}' is required", token_given=True) from None
        except jwt.InvalidAudienceError:
            raise NotAuthenticated(
                "the token's audience (aud) is wrong", token_given=True
            ) from None
        except jwt.InvalidIssuerError:
            raise NotAuthenticated("the token's issuer (iss) is wrong", token_given=True) from None
        except jwt.InvalidSignatureError:
            raise NotAuthenticated("the token's signature is invalid", token_given=True) from None
        except jwt.InvalidAlgorithmError:
            allowed = ", ".join(self._algorithms)
            raise NotAuthenticated(
                f"the token's algorithm is not accepted (expected {allowed})", token_given=True
            ) from None
        except jwt.InvalidTokenError as exc:
            raise NotAuthenticated(f"the token is invalid: {exc}", token_given=True) from None
        return _Verified(caller_from_claims(claims), _not_before(claims))


def issue_token(
    secret: str,
    sub: str,
    *,
    name: str | None = None,
    read: Sequence[str] = (),
    post: Sequence[str] = (),
    ttl_seconds: float = 3600,
    issuer: str | None = None,
    audience: str | None = None,
    now: float | None = None,
) -> str:
    """An HS256 token for ``sub`` granting ``read`` and ``post`` rooms for ``ttl_seconds``."""
    issued = time.time() if now is None else now
    claims: dict[str, Any] = {"sub": sub, "iat": int(issued), "exp": int(issued + ttl_seconds)}
    if name is not None:
        claims["name"] = name
    claims["rooms"] = {"read": list(read), "post": list(post)}
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    try:
        caller_from_claims(claims)
    except NotAuthenticated as exc:
        raise ValueError(exc.reason) from None
    return jwt.encode(claims, check_secret(secret), algorithm="HS256")
