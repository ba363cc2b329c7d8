"""The embedded valkey-server starts, answers and keeps AOF data across a restart."""

from tests.support import ValkeyProc


def test_valkey_restart_keeps_aof(valkey_proc: ValkeyProc) -> None:
    client = valkey_proc.client()
    client.xadd("s", {"k": "v"})
    client.close()
    valkey_proc.stop()
    valkey_proc.start()
    client = valkey_proc.client()
    assert client.xlen("s") == 1
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    client.close()
