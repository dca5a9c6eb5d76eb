"""Ordered schema migrations as commented SQL files (``NNNN_name.sql``), applied by ``pr1bench.store.migrations``."""
