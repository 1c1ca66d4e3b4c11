"""flychat's benchmark harness (not a test): ``python -m bench``; see docs/benchmarks.md."""
