"""Region jobs: one segmentation over many scenes (or one huge mosaic), cut into windows.

The output grid is cut into windows aligned to the global tile grid; each window is segmented
by the single-scene code (`run.pipeline.segment`) over its halo (the global tiles that touch it),
so the blended result does not depend on how the region was cut. Finished windows are recorded
in a manifest beside the output, so a rerun does only what is missing; the tiles are assembled
into one Cloud-Optimised GeoTIFF (or a VRT) styled as a single-scene output.

    inputs.py    scene lists and folders -> one mosaic per role (VRT), footprints
    grid.py      the output grid: from the optical mosaic, or CRS/resolution/extent given
    plan.py      windows on the output grid and their halos (pure functions)
    job.py       the job: everything a worker needs, resolved once, JSON-serialisable
    manifest.py  the work folder beside the output: job, finished windows, tiles
    runner.py    run_window(job, window) -> tile: the single-scene code over the halo
    executors.py windows in this process, or on Dask distributed, with bounded retries
    assemble.py  tiles -> COG or VRT, colour table, class names, .qml
    run.py       segment_region(): the whole job

No QGIS and no torch here; Dask is imported only when a scheduler is asked for.
"""
