"""Using a trained checkpoint: translating text, transcribing audio, scoring a test set."""
