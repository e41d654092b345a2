"""product: the catalog, categories, full-text search, images and rating aggregates."""
