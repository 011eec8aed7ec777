"""The pure rollout engine: observations in, the next status and actions out; no I/O."""
