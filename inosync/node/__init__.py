"""One node: the runner that syncs it, how it is reached, and how it is verified."""
