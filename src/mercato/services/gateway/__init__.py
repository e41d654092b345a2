"""gateway: routing, edge auth, rate limits, request ids, aggregated OpenAPI."""
