"""Consumer services: one app factory for any service, discovery modes behind one Protocol."""
