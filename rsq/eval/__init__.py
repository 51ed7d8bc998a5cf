"""Evaluation: metrics, benchmarks on the shared data, reports and run comparison."""
