"""Scenario 5: a slow subscriber (SIGSTOP) during a burst, with a small pub/sub output buffer."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import valkey.asyncio as avalkey

from bench.harness import Harness
from bench.parts.scenarios.base import InEveryVariant, Observation, Size, call_everyone, observe
from bench.parts.scenarios.names import ScenarioId
from bench.results import ScenarioRun
from bench.variants import Variant
from events import names

SERVICE = "notifications"
SMALL_LIMIT = "pubsub 64kb 32kb 1"
NOISE_MESSAGES = 128
NOISE_BYTES = 65_536
DEFAULT_LIMIT = "pubsub 32mb 8mb 60"


class SlowSubscriber(InEveryVariant):
    """notifications is frozen while a burst of users registers; Valkey's buffer limit bites."""

    id = ScenarioId.SLOW_SUBSCRIBER
    title = "Slow subscriber"
    question = (
        "notifications is frozen (SIGSTOP) during a burst of registrations and of other "
        "traffic on the channel, with a small client-output-buffer-limit for pub/sub. "
        "What does it know once it thaws?"
    )

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        burst = max(size.users, 8)

        async def body(obs: Observation) -> None:
            client = avalkey.Valkey.from_url(h.stack.settings.effective_valkey_url)
            pid = h.stack.pid(SERVICE)
            assert pid is not None
            try:
                await client.config_set("client-output-buffer-limit", SMALL_LIMIT)
                obs.figures["client_output_buffer_limit"] = SMALL_LIMIT
                os.kill(pid, signal.SIGSTOP)
                obs.mark("frozen")
                obs.users.extend(await h.register(burst))
                # Other traffic on the same channel fills the socket buffers of the frozen
                # subscriber, so Valkey's own output buffer for it starts to grow.
                noise = json.dumps({"type": "bench.noise", "padding": "x" * NOISE_BYTES})
                for _ in range(NOISE_MESSAGES):
                    await client.publish(names.CHANNEL, noise)
                obs.users.extend(await h.register(max(2, burst // 3)))
                obs.figures["channel_noise_bytes"] = NOISE_MESSAGES * NOISE_BYTES
                await asyncio.sleep(1.2)  # past the soft limit's 1 s
            finally:
                os.kill(pid, signal.SIGCONT)
                await client.config_set("client-output-buffer-limit", DEFAULT_LIMIT)
                await client.aclose()
            obs.mark("thawed")
            await h.wait_subscribers(variant.mode)
            await asyncio.sleep(size.settle_s / 2)
            status = await h.status(SERVICE)
            obs.figures["reconnects"] = status.get("reconnects")
            await call_everyone(obs, "calls")

        return await observe(h, variant, size, body)
