"""The source tree: inotify watches, what they report, and what the tree looks like now."""
