"""The source tree: its watchers (inotify, or fanotify past the watch limit), what they
report, and what the tree looks like now."""
