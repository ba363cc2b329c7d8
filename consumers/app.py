"""One app factory for any consumer service, and its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from common import sealed
from common.db import make_engine
from common.jwks import http_jwks_fetcher
from common.settings import Settings
from common.tokens import Verifier
from common.web import install_common, install_error_map, install_host_check, install_http_errors
from consumers import store
from consumers.discovery.base import Context, KnownCache, Stats, UnknownUser, UserDeactivated
from consumers.discovery.lazy import LazyDiscovery
from consumers.notifications import NotificationsSpec
from consumers.profiles import ProfilesSpec
from consumers.routes import internal_router, router
from consumers.service import ConsumerService
from consumers.spec import ServiceSpec

SPECS: dict[str, type[ProfilesSpec | NotificationsSpec]] = {
    "profiles": ProfilesSpec,
    "notifications": NotificationsSpec,
}


def service_spec(name: str) -> ServiceSpec:
    """The ServiceSpec for a consumer service name."""
    try:
        return SPECS[name]()
    except KeyError:
        raise ValueError(f"unknown consumer service {name!r}; known: {sorted(SPECS)}") from None


def create_app(
    settings: Settings, service: str | None = None, replica: str | None = None
) -> FastAPI:
    """Build a consumer app; its lifespan owns the engine, HTTP client and subscriber task."""
    name = service or settings.lab_service_name
    spec = service_spec(name)
    replica_name = replica or settings.lab_replica_name or name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url(name))
        await asyncio.to_thread(store.create_schema, engine, spec)
        http = httpx.AsyncClient()
        verifier = Verifier(
            http_jwks_fetcher(http, settings.jwks_urls),
            settings.lab_issuer,
            settings.lab_audience,
            max_lifetime=settings.lab_token_ttl,
            leeway=settings.lab_clock_leeway,
            jwks_ttl=settings.lab_jwks_cache_ttl,
            cache_size=settings.lab_token_cache_size,
            unwrap=sealed.settings_opener(settings),
        )
        ctx = Context(
            settings=settings,
            spec=spec,
            engine=engine,
            replica=replica_name,
            stats=Stats(),
            cache=KnownCache.from_settings(settings),
            keys=verifier.key,
        )
        svc = ConsumerService(ctx=ctx, verifier=verifier, discovery=LazyDiscovery(ctx))
        await svc.switch(settings.mode)
        app.state.service = svc
        try:
            yield
        finally:
            await svc.discovery.stop()
            await http.aclose()
            engine.dispose()

    app = FastAPI(title=f"discovery-lab {name}", lifespan=lifespan)
    install_common(app, name)
    install_http_errors(app)
    install_error_map(
        app, {UnknownUser: (403, "unknown_user"), UserDeactivated: (403, "user_deactivated")}
    )
    app.include_router(router)
    app.include_router(internal_router(settings.internal_token))
    # /internal/* answers only for the host names this process is reached by (DNS rebinding)
    install_host_check(app, settings, settings.consumer_urls(name), prefix="/internal")
    return app
