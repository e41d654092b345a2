"""The analytics service: daily sales, funnel, top products and new users, fed only by events."""
