"""The local image cache of one API server: files, their index, and housekeeping."""
