"""Key-manager adapters: where signing certificates come from."""
