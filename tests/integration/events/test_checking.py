"""Signature checks in child processes: the same verdicts as here, and no process left behind."""

from __future__ import annotations

import asyncio
import os
import signal

import jwt
import pytest

from common.tokens import SigningKey, generate_private_key, public_jwk
from events import checking
from events.checking import Check, CheckerProcesses
from tests.support import await_for

pytestmark = pytest.mark.timeout(60)

KEYS = [SigningKey(f"k{i}", "RS256", generate_private_key("RS256")) for i in (1, 2)]
PUBLIC = [jwt.PyJWK(public_jwk(key), algorithm="RS256") for key in KEYS]
ED = SigningKey("e1", "EdDSA", generate_private_key("EdDSA"))


def _checks(count: int, key: int = 0, every_bad: int = 7) -> list[Check]:
    """`count` checks with one key; every `every_bad`-th has a wrong input."""
    algorithm = PUBLIC[key].Algorithm
    out = []
    for i in range(count):
        data = f"event {i}".encode()
        signature = algorithm.sign(data, KEYS[key].private_key)
        signed = data + b"!" if i % every_bad == 0 else data
        out.append(Check(PUBLIC[key], signed, signature))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_children_give_the_same_verdicts_and_stop_on_close() -> None:
    async def scenario() -> None:
        checker = CheckerProcesses(2)
        checks = _checks(100)
        try:
            assert await checker(checks) == await checking.here(checks)
            assert sum(await checker(checks)) == 100 - len(range(0, 100, 7))
            pids = checker.pids()
            assert len(pids) == 2
        finally:
            await checker.aclose()
        assert checker.pids() == []
        assert not any(_alive(pid) for pid in pids)

    asyncio.run(scenario())


def test_eddsa_checks_pass_in_a_child_too() -> None:
    async def scenario() -> None:
        public = jwt.PyJWK(public_jwk(ED), algorithm="EdDSA")
        data = [f"event {i}".encode() for i in range(40)]
        checks = [Check(public, d, public.Algorithm.sign(d, ED.private_key)) for d in data]
        checks[3] = Check(public, b"forged", checks[3].signature)
        checker = CheckerProcesses(1)
        try:
            verdicts = await checker(checks)
        finally:
            await checker.aclose()
        assert verdicts == [i != 3 for i in range(40)]

    asyncio.run(scenario())


def test_small_or_mixed_batches_are_checked_here() -> None:
    async def scenario() -> None:
        checker = CheckerProcesses(1)
        try:
            small = _checks(checking.INLINE_BATCH - 1)
            assert await checker(small) == await checking.here(small)
            mixed = _checks(40) + _checks(40, key=1)
            assert await checker(mixed) == await checking.here(mixed)
            assert checker.pids() == []
        finally:
            await checker.aclose()

    asyncio.run(scenario())


def test_a_killed_child_is_replaced_and_no_verdict_is_wrong() -> None:
    async def scenario() -> None:
        checker = CheckerProcesses(1, respawn_after_s=0.5)
        checks = _checks(64)
        expected = await checking.here(checks)
        try:
            assert await checker(checks) == expected
            (pid,) = checker.pids()
            os.kill(pid, signal.SIGKILL)
            assert await checker(checks) == expected  # checked here instead
            assert checker.failures == 1 and checker.pids() == []
            assert await checker(checks) == expected  # still here, within the pause
            assert checker.pids() == []

            async def respawned() -> bool:
                assert await checker(checks) == expected
                return bool(checker.pids())

            await await_for(respawned, what="a new child after the pause")
            (new_pid,) = checker.pids()
            assert new_pid != pid
        finally:
            await checker.aclose()

    asyncio.run(scenario())
