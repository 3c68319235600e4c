"""The `upseg` metadata contract: what an exported model says about itself (classes, colours, band
order, units, normalisation, tiling), its parsing and validation, and reading an ONNX file's
metadata without ONNX Runtime. Written once at export by `model_export`, read by everything here."""
