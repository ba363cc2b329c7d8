"""The auth service's app factory and lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from auth import store
from auth.keys import KeyStore
from auth.password_policy import WeakPassword
from auth.passwords import HashingBusy, build_passwords
from auth.publishing import connect, replica_wait
from auth.routes import internal_router, router
from auth.service import (
    AuthService,
    InvalidCredentials,
    TargetDeactivated,
    UnknownUser,
    UserInactive,
    UsernameTaken,
)
from auth.throttle import Policy, TooManyAttempts
from common import sealed
from common.db import make_engine
from common.forwarded import ForwardedTrust
from common.settings import Settings
from common.tokens import Verifier
from common.web import install_common, install_error_map, install_host_check, install_http_errors


def create_app(settings: Settings) -> FastAPI:
    """Build the auth app; clients are created in the lifespan, never at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url("auth"))
        await asyncio.to_thread(store.create_schema, engine)
        keys = KeyStore(settings.keys_dir, settings.lab_jwt_alg.value, settings.lab_token_ttl)
        client = connect(settings)

        async def local_jwks() -> Mapping[str, Any]:
            return keys.jwks()

        verifier = Verifier(
            local_jwks,
            settings.lab_issuer,
            settings.lab_audience,
            max_lifetime=settings.lab_token_ttl,
            leeway=settings.lab_clock_leeway,
            jwks_ttl=min(5.0, settings.lab_jwks_cache_ttl),
            min_refresh_interval=0.0,
            unwrap=sealed.settings_opener(settings),
        )
        service = AuthService.from_settings(
            settings,
            engine=engine,
            keys=keys,
            valkey=client,
            verifier=verifier,
            seal_to=sealed.settings_sealer(settings),
            replica_wait=replica_wait(settings),
            passwords=build_passwords(settings),
            throttle=Policy(
                account_allowance=settings.lab_login_account_allowance,
                account_wide_allowance=settings.lab_login_account_wide_allowance,
                address_allowance=settings.lab_login_address_allowance,
                register_taken_allowance=settings.lab_register_taken_allowance,
                cap=settings.lab_login_backoff_cap,
                window=settings.lab_login_window,
            ),
        )
        await service.publisher.start()
        app.state.service = service
        try:
            yield
        finally:
            await service.publisher.stop()
            await client.aclose()
            if service.replica_wait is not None:
                await service.replica_wait.pinned.reset()
            engine.dispose()

    app = FastAPI(title="discovery-lab auth", lifespan=lifespan)
    app.state.forwarded = ForwardedTrust(
        settings.gateway_proxy_key(), trusted=settings.trusted_proxies
    )
    install_common(app, "auth")

    @app.exception_handler(HashingBusy)
    async def _busy(_: Request, exc: HashingBusy) -> JSONResponse:
        body = {"success": False, "error": "busy", "detail": f"password hashing is full ({exc})"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    install_http_errors(app)
    install_error_map(
        app,
        {
            UsernameTaken: (409, "username_taken"),
            InvalidCredentials: (401, "invalid_credentials"),
            UserInactive: (403, "user_deactivated"),
            UnknownUser: (404, "unknown_user"),
            TargetDeactivated: (409, "user_deactivated"),
            WeakPassword: (422, "weak_password"),
            TooManyAttempts: (429, "too_many_attempts"),
        },
    )
    app.include_router(router)
    app.include_router(internal_router(settings.internal_token))
    # /internal/* answers only for the host names this process is reached by (DNS rebinding)
    install_host_check(app, settings, settings.auth_urls, prefix="/internal")
    return app
