"""Kubernetes and Istio adapters: pure object builders and the code that writes them through the official client."""
