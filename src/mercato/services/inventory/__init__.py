"""inventory: stock per SKU, reservations with expiry, audited adjustments, low-stock alerts."""
