"""Pure analysis: threshold and relative checks, a Kayenta-compatible judge, a sequential test."""
