"""Benchmark of `upseg:segment`: raw ONNX Runtime limit, end to end, memory against scene size.

`python -m bench.run_bench` (what `make bench` runs); scenes come from `bench.synthetic_scene`
and are SYNTHETIC.
"""
