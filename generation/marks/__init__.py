"""The invisible mark's versions. ``generation.watermark`` is the front: it marks with the current
version and reads with every version it knows."""
