"""Command line: ``s2s <command>``, one module a command."""
