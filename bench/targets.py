"""The brief's targets, checked as ratios of figures measured in the same run."""

from __future__ import annotations

from bench.results import Floors, ModeLatency, Target


def check(latency: dict[str, ModeLatency], floors: Floors) -> list[Target]:
    """Every target for every mode it applies to; a missed one says by how much."""
    targets: list[Target] = []
    for label, lat in latency.items():
        mode = label.split("+")[0]
        overhead = (lat.steady.p50 / lat.verify_only.p50 - 1) * 100 if lat.verify_only.p50 else 0
        targets.append(
            Target(
                name="discovery overhead on a steady call",
                mode=label,
                measured=round(overhead, 2),
                limit=5.0,
                unit="% over verification only (p50)",
                met=overhead <= 5.0,
                detail=f"/whoami p50 {lat.steady.p50:.3f} ms vs /verify p50 "
                f"{lat.verify_only.p50:.3f} ms, same gateway, same token cache",
            )
        )
        if mode == "lazy":
            extra = lat.first_call.p50 - lat.steady.p50
            targets.append(
                Target(
                    name="lazy first call over a steady call",
                    mode=label,
                    measured=round(extra, 3),
                    limit=2.0,
                    unit="ms at p50",
                    met=extra <= 2.0,
                    detail=f"first call p50 {lat.first_call.p50:.3f} ms (verify a new token, "
                    f"provision in one transaction) vs steady p50 {lat.steady.p50:.3f} ms",
                )
            )
        if lat.propagation is not None and lat.propagation.n:
            transport = floors.valkey_pubsub if mode == "pubsub" else floors.valkey_stream
            floor50 = transport.p50 + floors.db_insert.p50
            floor99 = transport.p99 + floors.db_insert.p99
            r50 = lat.propagation.p50 / floor50 if floor50 else 0.0
            r99 = lat.propagation.p99 / floor99 if floor99 else 0.0
            what = "PUBLISH→receive" if mode == "pubsub" else "XADD→XREADGROUP"
            targets.append(
                Target(
                    name="propagation p50 vs raw delivery + one insert",
                    mode=label,
                    measured=round(r50, 2),
                    limit=3.0,
                    unit="x floor",
                    met=r50 <= 3.0,
                    detail=f"p50 {lat.propagation.p50:.3f} ms vs floor {floor50:.3f} ms "
                    f"({what} {transport.p50:.3f} + insert {floors.db_insert.p50:.3f})",
                )
            )
            targets.append(
                Target(
                    name="propagation p99 vs raw delivery + one insert",
                    mode=label,
                    measured=round(r99, 2),
                    limit=10.0,
                    unit="x floor",
                    met=r99 <= 10.0,
                    detail=f"p99 {lat.propagation.p99:.3f} ms vs floor {floor99:.3f} ms",
                )
            )
        hash_rate = floors.hash_throughput.rps
        ratio = lat.registration_throughput.rps / hash_rate if hash_rate else 0.0
        targets.append(
            Target(
                name="registration throughput vs raw argon2 rate",
                mode=label,
                measured=round(ratio * 100, 1),
                limit=90.0,
                unit="% of hashes/s at the same concurrency",
                met=ratio >= 0.9,
                detail=f"{lat.registration_throughput.rps:.2f} registrations/s vs "
                f"{hash_rate:.2f} hashes/s at concurrency {floors.hash_throughput.concurrency}",
            )
        )
    return targets
