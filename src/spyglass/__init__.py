"""Spyglass: an image service that speaks OpenStack Glance's APIs."""

__version__ = "0.1.0"
