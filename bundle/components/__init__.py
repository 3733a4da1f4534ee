"""Torch-native components that bundles can name by short `_target_`.

Training (``training``, ``handlers``, ``checkpoints``), evaluation and inference (``evaluation``,
``inference``, ``writers``), their event engine (``engine``), data (``synthetic``, ``images``,
``loaders``), models (``networks``, ``losses``, ``metrics``), and run setup (``seeding``,
``distributed``). Nothing is imported here: the config engine imports only the module a
``_target_`` names. See docs/components.md.
"""
