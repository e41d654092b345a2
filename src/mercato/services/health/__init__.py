"""The health service: live status of every service and engine, and the status page."""
