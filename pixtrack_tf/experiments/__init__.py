"""Experiments above the library: settings chosen on the training split."""
