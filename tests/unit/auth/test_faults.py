"""The crash fault switch: a publisher decorator, installed only when the setting is on."""

from __future__ import annotations

from pathlib import Path

import pytest
import valkey.asyncio as avalkey

from auth import store
from auth.faults import CrashAfterCommit
from auth.keys import KeyStore
from auth.passwords import build_passwords
from auth.publishing import NoPublisher
from auth.service import AuthService
from auth.throttle import Policy
from common.db import make_engine
from common.settings import Mode, Publish, Settings
from events import names
from events.model import user_event
from tests.unit.fakes import Keys, KeysCopier, RecordingPublisher

pytestmark = pytest.mark.anyio


def _service(tmp_path: Path, crash: bool, mode: Mode, keys_from: KeysCopier) -> AuthService:
    settings = Settings(lab_state_dir=tmp_path, lab_mode=mode, lab_fault_crash_after_commit=crash)
    engine = make_engine(settings.database_url("auth"))
    store.create_schema(engine)
    keys_from(settings.keys_dir)
    keys = KeyStore(settings.keys_dir, "RS256", 300)
    client = avalkey.Valkey(port=1)  # never connected: nothing is published here
    return AuthService.from_settings(
        settings,
        engine=engine,
        keys=keys,
        valkey=client,
        verifier=Keys().verifier(),
        passwords=build_passwords(settings),
        throttle=Policy(),
    )


@pytest.mark.parametrize("mode", [Mode.LAZY, Mode.STREAMS])
def test_the_switch_is_installed_only_when_on(
    tmp_path: Path, mode: Mode, signing_keys: KeysCopier
) -> None:
    off = _service(tmp_path / "off", crash=False, mode=mode, keys_from=signing_keys).publisher
    on = _service(tmp_path / "on", crash=True, mode=mode, keys_from=signing_keys).publisher
    assert not isinstance(off, CrashAfterCommit)
    assert isinstance(on, CrashAfterCommit)
    assert (on.mode, on.publish) == (off.mode, off.publish)


async def test_a_mode_switch_keeps_the_fault_installed(
    tmp_path: Path, signing_keys: KeysCopier
) -> None:
    service = _service(tmp_path, crash=True, mode=Mode.LAZY, keys_from=signing_keys)
    assert isinstance(service.publisher.inner, NoPublisher)  # type: ignore[attr-defined]
    await service.switch(Mode.PUBSUB, Publish.DIRECT)
    assert isinstance(service.publisher, CrashAfterCommit)
    assert service.publisher.mode is Mode.PUBSUB
    await service.publisher.stop()


async def test_everything_but_a_registration_passes_through() -> None:
    inner = RecordingPublisher()
    crash = CrashAfterCommit(inner)
    event = user_event(names.USER_DEACTIVATED, 7, "eve")
    crash.stage(None, event)  # type: ignore[arg-type]
    await crash.after_commit(event)
    await crash.start()
    assert (inner.staged, inner.committed, inner.running) == ([event], [event], True)
    assert await crash.status() == {"recorded": 1}
