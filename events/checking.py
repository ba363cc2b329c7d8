"""Signature checks, here or in child processes, so a consumer catching up uses every core.

Checking an RS256 signature costs about as much CPU as everything else a consumer does with an
event. Threads do not help much: each check hands the GIL back and forth with the event loop.
A child process checks a whole batch while the consumer parses and applies the batch before it.
`python -m events.checking` is that child: it reads batches on stdin and writes verdicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import struct
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from jwt.algorithms import get_default_algorithms

log = logging.getLogger(__name__)

INLINE_BATCH = 32  # fewer checks than this are done here: the round trip costs more
PIPE_BYTES = 1 << 20  # a batch of 500 events is about 650 KB on its way to a child
RESPAWN_AFTER_S = 5.0  # after a child failed, checks stay here this long before a new one
_LENGTH = struct.Struct("!I")
_ITEM = struct.Struct("!IH")


@dataclass(slots=True)  # not frozen: a frozen dataclass is slow to build, one per event
class Check:
    """One signature to check: the key, what it must have signed, and the signature."""

    key: jwt.PyJWK
    signing_input: bytes
    signature: bytes

    def passes(self) -> bool:
        return bool(self.key.Algorithm.verify(self.signing_input, self.key.key, self.signature))


Checker = Callable[[Sequence[Check]], Awaitable[list[bool]]]


def _passes(checks: Sequence[Check]) -> list[bool]:
    return [check.passes() for check in checks]


async def here(checks: Sequence[Check]) -> list[bool]:
    """Check in this process, on the event loop."""
    return _passes(checks)


@functools.lru_cache(maxsize=16)
def _der(key: jwt.PyJWK) -> bytes:
    return bytes(key.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _request(checks: Sequence[Check]) -> bytes:
    """One batch as the child reads it: the key (algorithm, DER), then each input and signature.
    A batch holds one key's checks."""
    key = checks[0].key
    alg, der = key.algorithm_name.encode(), _der(key)
    parts = [struct.pack("!H", len(alg)), alg, _LENGTH.pack(len(der)), der]
    parts.append(_LENGTH.pack(len(checks)))
    for check in checks:
        parts += (_ITEM.pack(len(check.signing_input), len(check.signature)), check.signing_input)
        parts.append(check.signature)
    body = b"".join(parts)
    return _LENGTH.pack(len(body)) + body


def _widen(pipe: asyncio.StreamWriter | None) -> None:
    """Let a whole batch fit in the pipe (Linux), so the child starts on it at once instead of
    waiting while the event loop feeds it 64 KiB at a time."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if pipe is None or set_size is None:
        return
    with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep the default
        fcntl.fcntl(pipe.get_extra_info("pipe").fileno(), set_size, PIPE_BYTES)


class _Child:
    """One child process and the lock that keeps one batch at a time on its pipes."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.lock = asyncio.Lock()

    async def check(self, checks: Sequence[Check]) -> list[bool]:
        async with self.lock:
            if self.process is None:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "events.checking",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                _widen(self.process.stdin)
            stdin, stdout = self.process.stdin, self.process.stdout
            assert stdin is not None and stdout is not None
            stdin.write(_request(checks))
            await stdin.drain()
            (count,) = _LENGTH.unpack(await stdout.readexactly(_LENGTH.size))
            verdicts = await stdout.readexactly(count)
            if count != len(checks):
                raise RuntimeError(f"the checker answered {count} verdicts for {len(checks)}")
            return [verdict == 1 for verdict in verdicts]

    async def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the child exits at the end of its input
        try:
            await asyncio.wait_for(process.wait(), timeout=2.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


class CheckerProcesses:
    """Checks a large batch in `processes` child processes, started on first use; a smaller
    batch, or any batch while a child that failed is being replaced, is checked here."""

    def __init__(self, processes: int, respawn_after_s: float = RESPAWN_AFTER_S) -> None:
        self._children = [_Child() for _ in range(processes)]
        self._respawn_after_s = respawn_after_s
        self._here_until = 0.0
        self.failures = 0

    async def __call__(self, checks: Sequence[Check]) -> list[bool]:
        keys = {id(check.key) for check in checks}
        if len(checks) < INLINE_BATCH or len(keys) != 1 or time.monotonic() < self._here_until:
            return await here(checks)
        # This process takes a share too, in a thread: it would otherwise only wait, and on the
        # event loop it would hold up the writes that feed the children.
        step = -(-len(checks) // (len(self._children) + 1))
        parts = [checks[start : start + step] for start in range(0, len(checks), step)]
        shares = zip(self._children, parts[1:], strict=False)
        try:
            verdicts = await asyncio.gather(
                *(child.check(part) for child, part in shares),
                asyncio.to_thread(_passes, parts[0]),
            )
        except (OSError, EOFError, RuntimeError, asyncio.IncompleteReadError) as exc:
            self.failures += 1
            self._here_until = time.monotonic() + self._respawn_after_s
            log.warning("signature checker process failed (%r); checking here for now", exc)
            await self.aclose()
            return await here(checks)
        return [verdict for part in [verdicts[-1], *verdicts[:-1]] for verdict in part]

    async def aclose(self) -> None:
        """Stop every child process."""
        for child in self._children:
            await child.close()

    def pids(self) -> list[int]:
        """The child processes that are running."""
        return [
            c.process.pid
            for c in self._children
            if c.process is not None and c.process.returncode is None
        ]


def _verdicts(request: memoryview, keys: dict[bytes, Any]) -> bytes:
    """The child's side: one verdict byte (1 passes, 0 fails) per check of a request."""
    (alg_len,) = struct.unpack_from("!H", request, 0)
    offset = 2
    alg = bytes(request[offset : offset + alg_len]).decode()
    offset += alg_len
    (der_len,) = _LENGTH.unpack_from(request, offset)
    offset += _LENGTH.size
    der = bytes(request[offset : offset + der_len])
    offset += der_len
    if der not in keys:
        keys[der] = load_der_public_key(der)
    key = keys[der]
    algorithm = get_default_algorithms()[alg]
    (count,) = _LENGTH.unpack_from(request, offset)
    offset += _LENGTH.size
    out = bytearray(count)
    for i in range(count):
        input_len, signature_len = _ITEM.unpack_from(request, offset)
        offset += _ITEM.size
        signing_input = bytes(request[offset : offset + input_len])
        offset += input_len
        signature = bytes(request[offset : offset + signature_len])
        offset += signature_len
        out[i] = 1 if algorithm.verify(signing_input, key, signature) else 0
    return _LENGTH.pack(count) + bytes(out)


def main() -> None:
    """Answer requests on stdin until it closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    keys: dict[bytes, Any] = {}
    while header := stdin.read(_LENGTH.size):
        (length,) = _LENGTH.unpack(header)
        stdout.write(_verdicts(memoryview(stdin.read(length)), keys))
        stdout.flush()


if __name__ == "__main__":
    main()
