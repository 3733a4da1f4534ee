"""The zoo as a registry: the index, verified downloads and the cache, sources, the embedding API
(``bundle.load``), lock files and publishing. Nothing here imports torch at import time."""
