"""The OpenAPI document: what it lists, and that every handler in it is documented by flychat."""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

import pytest
from litestar import Litestar
from openapi_spec_validator import validate

from flychat.config import Settings
from flychat.entrypoints.app import create_app
from flychat.entrypoints.auth import COOKIE, INSUFFICIENT_SCOPE, INVALID_TOKEN, REALM
from flychat.entrypoints.http import API_HANDLERS
from flychat.entrypoints.openapi.document import (
    DocumentedOperation,
    DocumentSettings,
    header,
    openapi_config,
)

MESSAGES = "/rooms/{room}/messages/"
TYPING = "/rooms/{room}/typing"
PRESENCE = "/rooms/{room}/presence"
FORMS = ["application/x-www-form-urlencoded", "multipart/form-data", "application/json"]


def app_of(**settings: Any) -> Litestar:
    return create_app(Settings(database_url="memory://", **settings))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    schema: dict[str, Any] = app_of().openapi_schema.to_schema()
    return schema


def statuses(document: dict[str, Any], path: str, method: str) -> set[int]:
    return {int(s) for s in document["paths"][path][method]["responses"]}


def test_title_version_and_a_valid_openapi_31_document(document: dict[str, Any]) -> None:
    assert document["info"]["title"] == "flychat"
    assert document["info"]["version"] == version("flychat")
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_operation_as_served(document: dict[str, Any]) -> None:
    listed = {(path, method) for path, item in document["paths"].items() for method in item}
    assert listed == {
        (MESSAGES, "get"),
        (MESSAGES, "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/", "get"),
        ("/{room}", "get"),
        ("/metrics", "get"),
        (TYPING, "post"),
        (PRESENCE, "post"),
        (PRESENCE, "get"),
        ("/auth/session", "post"),
        ("/auth/logout", "post"),
    }


def test_metrics_is_listed_while_it_is_served(document: dict[str, Any]) -> None:
    assert statuses(document, "/metrics", "get") == {200}
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "/metrics" not in app_of(metrics=False).openapi_schema.to_schema()["paths"]


def test_every_response_documents_x_request_id(document: dict[str, Any]) -> None:
    operations = [op for item in document["paths"].values() for op in item.values()]
    responses = [r for op in operations for r in op["responses"].values()]
    assert all(r["headers"]["X-Request-ID"]["required"] is True for r in responses)


def test_every_handler_in_the_schema_is_documented_by_flychat() -> None:
    handlers = [h for route in app_of().routes for h in getattr(route, "route_handlers", [])]
    included = [h for h in handlers if h.resolve_include_in_schema()]
    assert included
    assert all(issubclass(h.operation_class, DocumentedOperation) for h in included)


def test_statuses_each_operation_answers_with(document: dict[str, Any]) -> None:
    auth = {401, 403}
    assert statuses(document, MESSAGES, "post") == {200, 400, 404, 413, 415, 429, 503} | auth
    assert statuses(document, MESSAGES, "get") == {200, 400, 404, 503} | auth
    assert statuses(document, "/readyz", "get") == {200, 503}
    assert statuses(document, "/healthz", "get") == {200}
    assert statuses(document, "/", "get") == {302}
    assert statuses(document, "/{room}", "get") == {200, 400, 403, 404}
    assert statuses(document, TYPING, "post") == {204, 400, 404, 413, 415} | auth
    assert statuses(document, PRESENCE, "post") == {200, 400, 404, 413, 415, 503} | auth
    assert statuses(document, PRESENCE, "get") == {200, 400, 404, 503} | auth
    assert statuses(document, "/auth/session", "post") == {303, 400, 401, 403, 404}
    assert statuses(document, "/auth/logout", "post") == {303, 403}


ROOM_OPERATIONS = [
    (MESSAGES, "post"),
    (MESSAGES, "get"),
    (TYPING, "post"),
    (PRESENCE, "post"),
    (PRESENCE, "get"),
]


def test_the_token_is_optional_on_the_room_operations(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"]["in"] == "cookie"
    assert schemes["cookieAuth"]["name"] == COOKIE
    optional = [{}, {"bearerAuth": []}, {"cookieAuth": []}]
    for path, method in [*ROOM_OPERATIONS, ("/{room}", "get")]:
        assert document["paths"][path][method]["security"] == optional
    for path in ("/healthz", "/readyz", "/auth/session", "/auth/logout"):
        assert "security" not in next(iter(document["paths"][path].values()))


@pytest.mark.parametrize(("path", "method"), ROOM_OPERATIONS)
def test_auth_refusals_document_the_challenge_as_sent(
    document: dict[str, Any], path: str, method: str
) -> None:
    responses = document["paths"][path][method]["responses"]
    challenge = responses["401"]["headers"]["WWW-Authenticate"]
    assert challenge["required"] is True
    pattern = re.compile(challenge["schema"]["pattern"])
    assert pattern.match(REALM) and pattern.match(INVALID_TOKEN)
    assert not pattern.match(INSUFFICIENT_SCOPE)
    scope = responses["403"]["headers"]["WWW-Authenticate"]
    assert re.match(scope["schema"]["pattern"], INSUFFICIENT_SCOPE)
    assert scope["required"] is (method == "get")
    error = {"$ref": "#/components/schemas/Error"}
    assert responses["401"]["content"]["application/json"]["schema"] == error
    assert responses["403"]["content"]["application/json"]["schema"] == error


def test_the_rate_limit_answer_carries_retry_after(document: dict[str, Any]) -> None:
    limited = document["paths"][MESSAGES]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["required"] is True
    assert "FLYCHAT_POST_RATE" in limited["description"]


def test_messages_and_members_carry_user_after_from(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert list(schemas["Message"]["properties"])[:4] == ["id", "provisionalId", "from", "user"]
    assert "user" not in schemas["Message"]["required"]
    assert list(schemas["PresentMember"]["properties"])[:2] == ["from", "user"]


def test_sign_in_and_out_redirect_with_the_cookie(document: dict[str, Any]) -> None:
    session = document["paths"]["/auth/session"]["post"]
    assert list(session["requestBody"]["content"]) == FORMS[:2]
    assert document["components"]["schemas"]["SessionForm"]["required"] == ["token"]
    for path in ("/auth/session", "/auth/logout"):
        headers = document["paths"][path]["post"]["responses"]["303"]["headers"]
        assert headers["Location"]["required"] and headers["Set-Cookie"]["required"]
    assert "WWW-Authenticate" in session["responses"]["401"]["headers"]


def test_the_expiry_recovery_route_stays_out(document: dict[str, Any]) -> None:
    assert not [path for path in document["paths"] if "expiry" in path]


def test_the_post_body_in_three_media_types(document: dict[str, Any]) -> None:
    content = document["paths"][MESSAGES]["post"]["requestBody"]["content"]
    assert list(content) == FORMS
    schemas = document["components"]["schemas"]
    for media in FORMS:
        name = content[media]["schema"]["$ref"].rsplit("/", 1)[1]
        body = schemas[name]
        assert sorted(body["required"]) == ["from", "text"]
        assert set(body["properties"]) == {"from", "text", "provisionalId"}
        assert body["properties"]["text"]["maxLength"] == 4000


@pytest.mark.parametrize(("path", "flag"), [(TYPING, "typing"), (PRESENCE, "leave")])
def test_typing_and_presence_bodies_in_three_media_types(
    document: dict[str, Any], path: str, flag: str
) -> None:
    operation = document["paths"][path]["post"]
    content = operation["requestBody"]["content"]
    assert list(content) == FORMS
    schemas = document["components"]["schemas"]
    for media in FORMS:
        body = schemas[content[media]["schema"]["$ref"].rsplit("/", 1)[1]]
        assert body["required"] == ["from"]
        assert set(body["properties"]) == {"from", flag}
    assert "event: " in operation["description"]


def test_the_presence_answer_lists_members_with_no_other_key(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    answer, member = schemas["PresenceList"], schemas["PresentMember"]
    assert sorted(answer["required"]) == ["count", "members"]
    assert answer["additionalProperties"] is False
    assert sorted(member["required"]) == ["from", "lastSeen"]
    assert set(member["properties"]) == {"from", "user", "lastSeen"}
    assert member["additionalProperties"] is False


def test_the_text_limit_follows_the_settings() -> None:
    schemas = app_of(max_text_length=120).openapi_schema.to_schema()["components"]["schemas"]
    assert schemas["NewMessage"]["properties"]["text"]["maxLength"] == 120


def test_error_bodies_name_a_field_only_where_one_is_sent(document: dict[str, Any]) -> None:
    post = document["paths"][MESSAGES]["post"]["responses"]
    get = document["paths"][MESSAGES]["get"]["responses"]
    refs = {"$ref": "#/components/schemas/FieldError"}, {"$ref": "#/components/schemas/Error"}
    assert post["400"]["content"]["application/json"]["schema"] == {"oneOf": list(refs)}
    assert get["400"]["content"]["application/json"]["schema"] == refs[0]
    for status in ("404", "413", "415", "503"):
        assert post[status]["content"]["application/json"]["schema"] == refs[1]
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and error["additionalProperties"] is False


def test_the_stream_is_documented_on_the_get(document: dict[str, Any]) -> None:
    operation = document["paths"][MESSAGES]["get"]
    media = set(operation["responses"]["200"]["content"])
    assert media == {"application/json", "text/event-stream"}
    names = {(p["in"], p["name"]) for p in operation["parameters"]}
    assert names >= {
        ("path", "room"),
        ("query", "after"),
        ("query", "before"),
        ("query", "limit"),
        ("query", "lastEventId"),
        ("query", "recover"),
        ("header", "Last-Event-ID"),
    }
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}


def test_a_header_on_every_response_is_documented_once_for_all() -> None:
    request_id = header("The request's id.", {"type": "string"}, required=True)
    settings = DocumentSettings(100, every_response_headers={"X-Request-ID": request_id})
    app = Litestar(route_handlers=API_HANDLERS, openapi_config=openapi_config(settings))
    document = app.openapi_schema.to_schema()
    operations = [op for item in document["paths"].values() for op in item.values()]
    responses = [r for op in operations for r in op["responses"].values()]
    assert len(responses) > 5
    assert all(r["headers"]["X-Request-ID"] == request_id for r in responses)
