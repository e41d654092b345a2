"""auth: credentials, sessions, refresh tokens, signing keys (JWKS), service clients."""
