"""Sub-commands of the `canary` CLI; each module defines `register(subparsers)`."""
