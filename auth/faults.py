"""Lab-only fault switches, kept out of the service: installed around a publisher only when on."""

from __future__ import annotations

import logging
import os
from typing import Any

from sqlalchemy import Connection

from auth.publishing import Publisher
from events import names
from events.model import CloudEvent

log = logging.getLogger("discovery_lab.auth")
FAULT_EXIT_CODE = 70


class CrashAfterCommit:
    """LAB_FAULT_CRASH_AFTER_COMMIT: the process exits once a registration has committed, before
    its event is published: the gap between direct publishing and the outbox."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.mode = inner.mode
        self.publish = inner.publish

    def stage(self, conn: Connection, event: CloudEvent) -> None:
        self.inner.stage(conn, event)

    async def after_commit(self, event: CloudEvent) -> None:
        if event.type == names.USER_REGISTERED:
            log.error(
                "fault switch: exiting after committing user %s, before publishing",
                event.data.user_id,
            )
            logging.shutdown()
            os._exit(FAULT_EXIT_CODE)
        await self.inner.after_commit(event)

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def status(self) -> dict[str, Any]:
        return await self.inner.status()
