"""The zoo as a registry: downloads, the content-addressed cache, archives, the index and bundle sources."""
