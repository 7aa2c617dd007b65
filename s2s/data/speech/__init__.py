"""Speech data: the audio front end, manifests, datasets and their LightningDataModule."""
