"""Interoperable image import: staging, the import task's steps, plugins and the worker."""
