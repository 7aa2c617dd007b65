"""Importers: other toolkits' checkpoints -> self-contained s2s checkpoints."""
