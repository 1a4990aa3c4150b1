"""Datasets and sample data (real photographs for tests, benchmarks and the demo)."""
