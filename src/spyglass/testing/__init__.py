"""Test helpers for code built on Spyglass: the store driver contract.

Importing this package needs pytest (and an async test plugin, such as
pytest-asyncio or anyio's), which Spyglass itself does not depend on.
"""
