"""The bundle format: a folder's layout, metadata, configs, weights and bundle-local code."""
