"""The scenarios' numbers, and the keys of the figures that the verdict reads back, named once."""

from __future__ import annotations

from enum import IntEnum


class ScenarioId(IntEnum):
    """Each scenario's number in the report's section 3."""

    STEADY = 1
    CONSUMER_OFFLINE = 2
    VALKEY_DOWN = 3
    CRASH_AFTER_COMMIT = 4
    SLOW_SUBSCRIBER = 5
    CONCURRENT_FIRST_CALLS = 6
    DEACTIVATION = 7
    NEVER_CALL = 8
    LATE_SERVICE = 9
    VALKEY_KILLED = 10  # on one Valkey; the failover on a cluster reports under it too
    ATTRIBUTE_CHANGE = 11


# Deactivation: how long a token stays valid, how much of it was used, and when each service
# refused it ("<service>_refused_after_s", one per service).
TTL_KEY = "token_ttl_s"
AGE_AT_DEACTIVATION_KEY = "token_age_at_deactivation_s"
REFUSED_SUFFIX = "_refused_after_s"
# Late service: the consumer started after the users registered, and what it knew before anyone
# called it, at once and after a wait.
LATE_SERVICE_KEY = "late_service"
AT_ONCE_KEY, AFTER_WAIT_KEY = "known_at_once", "known_after_wait"
# Attribute change: the slowest consumer to see a user's new value.
NEW_VALUE_MAX_KEY = "new_value_max_s"
