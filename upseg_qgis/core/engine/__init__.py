"""ONNX Runtime: the session (which execution providers were asked for and which ran), a quiet GPU
probe, batched inference of tiles in order, and test-time augmentation."""
