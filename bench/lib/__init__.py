"""The benchmark's library: trees, tools under test, meters, workloads and reports; the
entry points (run.py, trust.py, drift.py, restricted.py) sit one folder up."""
