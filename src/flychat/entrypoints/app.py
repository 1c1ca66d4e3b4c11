"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from flychat.bootstrap import Services, build_services
from flychat.config import Settings, load_settings
from flychat.entrypoints.errors import EXCEPTION_HANDLERS
from flychat.entrypoints.http import API_HANDLERS
from flychat.entrypoints.openapi.document import DocumentSettings, openapi_config
from flychat.entrypoints.pages import PAGE_HANDLERS
from flychat.entrypoints.presence import PRESENCE_HANDLERS

HERE = Path(__file__).parent


def create_app(settings: Settings | None = None, services: Services | None = None) -> Litestar:
    """Build the app; with ``services`` given (tests), use them instead of opening adapters."""
    config = settings or (services.settings if services else load_settings())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        async with build_services(config) as built:
            app.state.services = built
            yield

    return Litestar(
        route_handlers=[
            *API_HANDLERS,
            *PRESENCE_HANDLERS,
            *PAGE_HANDLERS,
            create_static_files_router(path="/static", directories=[HERE / "static"]),
        ],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        request_max_body_size=config.max_body_bytes,
        openapi_config=openapi_config(DocumentSettings(config.max_text_length)),
    )
