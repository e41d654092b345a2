"""The storefront and the admin console: static files the gateway serves (no Python)."""
