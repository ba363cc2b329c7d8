"""The report section of costs: login timing, event signing and ACL publish."""

from __future__ import annotations

from bench.report import (
    Block,
    Heading,
    Para,
    T,
    Table,
    fmt_num,
)
from bench.results import (
    Results,
    Stats,
)


def section(results: Results, charts: bool) -> list[Block]:
    """What the security measures cost, and login timing by kind of failure."""
    sec = results.security
    if sec is None:
        return []

    def row(what: str, s: Stats) -> list[T]:
        return [T(what), T(str(s.n)), T(fmt_num(s.p50)), T(fmt_num(s.p95)), T(fmt_num(s.max))]

    columns = ["", "n", "p50 (ms)", "p95", "max"]
    return [
        Heading(2, "Security: login timing and what the measures cost", "security"),
        Para(
            "Failed logins through the gateway, interleaved: an unknown user is checked against "
            "a dummy hash, so the three medians should differ by noise only (a gap would tell "
            "which accounts exist)."
        ),
        Table(
            ["failed login", *columns[1:]],
            [
                row("unknown user", sec.login_unknown),
                row("wrong password", sec.login_wrong_password),
                row("deactivated user", sec.login_deactivated),
            ],
        ),
        Para(
            "Per event, in process: auth signs each event it publishes; each consumer verifies "
            "each event it reads (propagation above includes both). PUBLISH round trips as the "
            "admin user and as auth's restricted ACL user show what the ACL check costs."
        ),
        Table(
            ["measure", *columns[1:]],
            [
                row(f"sign one event ({sec.event_alg})", sec.event_sign),
                row(f"verify one event ({sec.event_alg})", sec.event_verify),
                row("PUBLISH as admin", sec.publish_admin),
                row("PUBLISH as auth's ACL user", sec.publish_acl_user),
            ],
        ),
    ]
