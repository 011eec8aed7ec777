"""The controller runtime: reconcile one Canary at a time, watches, a work queue, leader election, endpoints."""
