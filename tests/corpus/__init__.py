"""Crafted disk images: safe ones of every inspectable format, and each known-unsafe kind."""
