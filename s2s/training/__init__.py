"""Training: the LightningModule, its losses and optimizer, precision, strategies, resume and warm start."""
