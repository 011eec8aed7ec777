"""Notifications about rollouts: a neutral message, one module per service, queued delivery."""
