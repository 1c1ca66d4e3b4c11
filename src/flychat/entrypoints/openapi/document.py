"""How flychat documents an operation exactly, and the document Litestar serves at /schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from importlib.metadata import version
from typing import Any, ClassVar

import msgspec
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import OpenAPI, Operation

from flychat.domain.model import DEFAULT_MAX_TEXT_LENGTH
from flychat.entrypoints.openapi.shapes import new_message_shapes

Shape = type[msgspec.Struct] | str
"""A Struct, or the name of a shape the document builds from the settings (``NewMessage``)."""

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = "application/json"


def ref(shape: Shape) -> dict[str, str]:
    """A reference to the shape's component schema."""
    name = shape if isinstance(shape, str) else shape.__name__
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass(frozen=True)
class Content:
    """A body of one media type: a JSON shape (several: one of them) or a schema as it is."""

    shapes: tuple[Shape, ...] = ()
    schema: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def render(self) -> dict[str, Any]:
        """The media type object."""
        if self.schema is not None:
            schema: dict[str, Any] = dict(self.schema)
        elif len(self.shapes) == 1:
            schema = ref(self.shapes[0])
        else:
            schema = {"oneOf": [ref(s) for s in self.shapes]}
        return {"schema": schema, **self.extra}


@dataclass(frozen=True)
class Reply:
    """One documented status: a description, its bodies by media type, its headers."""

    description: str
    content: Mapping[str, Content] = field(default_factory=dict)
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def render(self, every: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The response object, with the headers ``every`` response carries."""
        out: dict[str, Any] = {"description": self.description}
        if self.content:
            out["content"] = {media: c.render() for media, c in self.content.items()}
        headers = {**every, **self.headers}
        if headers:
            out["headers"] = {name: dict(h) for name, h in headers.items()}
        return out


def json_reply(description: str, *shapes: Shape, headers: Mapping[str, Any] | None = None) -> Reply:
    """A JSON response of one shape, or of one of several."""
    return Reply(description, {JSON: Content(shapes)}, headers or {})


def header(
    description: str, schema: Mapping[str, Any], *, required: bool = False
) -> dict[str, Any]:
    """A response header object."""
    return {"description": description, "required": required, "schema": dict(schema)}


def parameter(
    where: str, name: str, description: str, schema: Mapping[str, Any], *, required: bool = False
) -> dict[str, Any]:
    """A parameter object: ``where`` is path, query or header."""
    return {
        "name": name,
        "in": where,
        "description": description,
        "required": required or where == "path",
        "schema": dict(schema),
    }


@dataclass(frozen=True)
class Doc:
    """Everything the document says about one operation beyond its handler's docstring."""

    operation_id: str
    summary: str
    responses: Mapping[int, Reply]
    parameters: Sequence[Mapping[str, Any]] = ()
    body: Mapping[str, Content] | None = None
    trailing_slash: bool = False
    description: str = ""

    def with_responses(self, extra: Mapping[int, Reply]) -> Doc:
        """The same operation with more (or replaced) statuses."""
        return replace(self, responses={**self.responses, **extra})

    def render(
        self, generated: Mapping[str, Any], every: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """The operation object: Litestar's tags and description (the handler's docstring,
        then this entry's ``description``), the rest from this entry."""
        out: dict[str, Any] = {key: generated[key] for key in ("tags",) if key in generated}
        description = "\n\n".join(
            text for text in (generated.get("description"), self.description) if text
        )
        if description:
            out["description"] = description
        out["operationId"] = self.operation_id
        out["summary"] = self.summary
        if self.parameters:
            out["parameters"] = [dict(p) for p in self.parameters]
        if self.body is not None:
            content = {media: c.render() for media, c in self.body.items()}
            out["requestBody"] = {"required": True, "content": content}
        out["responses"] = {str(s): r.render(every) for s, r in sorted(self.responses.items())}
        return out

    def shapes(self) -> set[Shape]:
        """Every shape this operation refers to."""
        contents = [c for r in self.responses.values() for c in r.content.values()]
        contents.extend((self.body or {}).values())
        return {shape for c in contents for shape in c.shapes}


class DocumentedOperation(Operation):
    """An operation whose parameters, body and responses come from its ``doc``."""

    doc: ClassVar[Doc]


def documented(doc: Doc) -> type[Operation]:
    """The ``operation_class`` for a route handler documented by ``doc``."""
    name = f"{doc.operation_id[:1].upper()}{doc.operation_id[1:]}Operation"
    return type(name, (DocumentedOperation,), {"doc": doc})


@dataclass(frozen=True)
class DocumentSettings:
    """What the document takes from the settings and the app's middleware."""

    max_text_length: int
    every_response_headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class Document(OpenAPI):
    """The OpenAPI object, rendered with each documented operation's own entry."""

    settings: DocumentSettings = field(
        default_factory=lambda: DocumentSettings(DEFAULT_MAX_TEXT_LENGTH)
    )

    @property
    def _exclude_fields(self) -> set[str]:
        return {"settings"}

    def to_schema(self) -> dict[str, Any]:
        """The document as served: documented operations, trailing slashes, every shape."""
        out = super().to_schema()
        paths: dict[str, Any] = {}
        shapes: set[Shape] = set()
        for path, item in (self.paths or {}).items():
            rendered = dict(out["paths"][path])
            slashes = set()
            for method in METHODS:
                operation = getattr(item, method, None)
                if isinstance(operation, DocumentedOperation):
                    every = self.settings.every_response_headers
                    rendered[method] = operation.doc.render(rendered[method], every)
                    shapes |= operation.doc.shapes()
                    slashes.add(operation.doc.trailing_slash)
            if len(slashes) > 1:
                raise ValueError(f"{path}: every method must agree on the trailing slash")
            paths[f"{path}/" if True in slashes else path] = rendered
        out["paths"] = paths
        components = out.setdefault("components", {})
        components["schemas"] = {**components.get("schemas", {}), **self._schemas(shapes)}
        return out

    def _schemas(self, shapes: set[Shape]) -> dict[str, Any]:
        structs = {s.__name__: s for s in shapes if not isinstance(s, str)}
        built = {t.__name__: t for t in new_message_shapes(self.settings.max_text_length)}
        for name in (s for s in shapes if isinstance(s, str)):
            structs[name] = built[name]
        ordered = [structs[name] for name in sorted(structs)]
        _, schemas = msgspec.json.schema_components(
            ordered, ref_template="#/components/schemas/{name}"
        )
        return schemas


@dataclass
class FlychatOpenAPIConfig(OpenAPIConfig):
    """Litestar's OpenAPI config, building a :class:`Document` with the app's settings."""

    settings: DocumentSettings = field(
        default_factory=lambda: DocumentSettings(DEFAULT_MAX_TEXT_LENGTH)
    )

    def to_openapi_schema(self) -> OpenAPI:
        """The document Litestar fills with paths and serves."""
        base = super().to_openapi_schema()
        values = {f.name: getattr(base, f.name) for f in fields(OpenAPI)}
        return Document(**values, settings=self.settings)


def openapi_config(settings: DocumentSettings) -> OpenAPIConfig:
    """The config of the served document: JSON only, at /schema and /schema/openapi.json."""
    return FlychatOpenAPIConfig(
        title="flychat",
        version=version("flychat"),
        description="Realtime chat rooms: post messages, read history, stream them as SSE.",
        use_handler_docstrings=True,
        path="/schema",
        render_plugins=[JsonRenderPlugin()],
        settings=settings,
    )
