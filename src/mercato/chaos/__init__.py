"""Fault experiments: inject one fault under load, then audit the databases and streams."""
