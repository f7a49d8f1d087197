"""Notifications: events as upstream Glance sends them, an outbox, and the drivers."""
