"""Operating rollouts from the command line: cluster access, views and requests (no heavy imports)."""
