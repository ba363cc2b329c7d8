"""Lab tooling: process control, the client, ports and the Valkey launcher, used by the CLI,
the benchmark, the dashboard, the demo and the tests; no service imports it."""
