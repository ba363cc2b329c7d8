"""Events: the CloudEvent model, Valkey names, publishers, subscribers and the outbox relay."""
