"""The playground's sample app (examples/app/server.py), runnable as `python -m examples.app`."""
