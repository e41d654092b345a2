"""user: profiles, addresses and avatars (object storage)."""
