"""Model distribution: catalogues of downloadable models and the tools that write them, resumable
verified downloads, SHA-256 checks, the local model store, resolving MODEL to an .onnx file, and the
human-readable model report."""
