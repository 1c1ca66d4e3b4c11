"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from flychat.bootstrap import Services, build_services, chat_metrics, request_metrics
from flychat.config import Settings, load_settings
from flychat.entrypoints.errors import EXCEPTION_HANDLERS
from flychat.entrypoints.event_stream import StreamHandoff
from flychat.entrypoints.http import API_HANDLERS
from flychat.entrypoints.metrics import MetricsController, new_registry
from flychat.entrypoints.openapi.document import DocumentSettings, openapi_config
from flychat.entrypoints.openapi.operations import REQUEST_ID
from flychat.entrypoints.pages import PAGE_HANDLERS
from flychat.entrypoints.presence import PRESENCE_HANDLERS
from flychat.entrypoints.request_log import RequestContext
from flychat.entrypoints.session import SESSION_HANDLERS

HERE = Path(__file__).parent
EVERY_RESPONSE = {"X-Request-ID": REQUEST_ID}


def create_app(settings: Settings | None = None, services: Services | None = None) -> Litestar:
    """Build the app; with ``services`` given (tests), use them instead of opening adapters."""
    config = settings or (services.settings if services else load_settings())
    registry = new_registry() if config.metrics else None

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        async with build_services(config, chat_metrics(registry)) as built:
            app.state.services = built
            yield

    app = Litestar(
        route_handlers=[
            *API_HANDLERS,
            *PRESENCE_HANDLERS,
            *PAGE_HANDLERS,
            *SESSION_HANDLERS,
            create_static_files_router(path="/static", directories=[HERE / "static"]),
            *([MetricsController] if registry else []),
        ],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        request_max_body_size=config.max_body_bytes,
        cors_config=cors_config(config),
        openapi_config=openapi_config(
            DocumentSettings(config.max_text_length, every_response_headers=EVERY_RESPONSE)
        ),
        state=State({"metrics_registry": registry}),
        logging_config=None,
    )
    app.asgi_handler = RequestContext(
        StreamHandoff(app.asgi_handler), request_metrics(registry) if registry else None
    )
    return app


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS with credentials for ``FLYCHAT_CORS_ORIGINS``; None when none are listed."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID"],
        allow_credentials=True,
        expose_headers=["Retry-After", "WWW-Authenticate", "X-Request-ID"],
    )
