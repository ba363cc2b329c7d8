"""The auth service: registers users, logs them in, publishes JWKS, deactivates users."""
