"""The API gateway: forwards /auth/* to auth and /{service}/* to that service."""
