"""Builders of the rsync and ssh commands inosync runs, and readers of their output (pure)."""
