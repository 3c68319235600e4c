"""Training of UPSeg and its baselines: losses, checkpoints, the train and ablation commands."""
