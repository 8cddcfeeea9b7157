"""Unit tests of the pure layers: model (states, tables, config, validation, codec) and policy."""
