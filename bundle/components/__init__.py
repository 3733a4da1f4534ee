"""Torch-native components that bundles can name by short `_target_`."""
