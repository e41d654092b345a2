"""notification: in-app notifications and email from events, with per-category opt-out."""
