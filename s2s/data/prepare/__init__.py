"""``s2s prepare``: each corpus fetched (or copied from a local mirror) and turned into training files."""
