"""Training of UPSeg and its baselines: config, data, epochs, losses, optimisation, checkpoints,
logs, distributed runs and cross-modal pretraining (the `train` and `pretrain` commands)."""
