"""The simulator: the real engine on a virtual clock against a synthetic traffic model."""
