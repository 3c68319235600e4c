"""The optical and SAR inputs as the model needs them: which raster band feeds which model band,
which units the values are in (and product offsets), and whether a layer looks like the training
data. `layers.open_layers` / `open_readers` are the stage "open" of a run."""
