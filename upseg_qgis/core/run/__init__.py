"""`segment()` (in `pipeline`): one optical + SAR scene to a class raster, as named stages:
options and defaults, plan and tiling, chunks (normalise), inference, blend, streaming, helper
threads, memory, progress reporting and the result. Memory and speed settings never change the
map."""
