"""The Spyglass benchmark suite: ``python bench/run.py`` (see ``bench/run.py``)."""
