"""Import plugins: steps that change an image's staged data or metadata before it
is imported into the stores, found through the ``spyglass.import_plugins``
entry-point group and chosen by ``[image_import_opts] image_import_plugins``."""
