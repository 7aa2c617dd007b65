"""s2s: sequence-to-sequence Transformers for translation and speech. ``s2s.load(path)`` opens a checkpoint."""


def load(path, *, device: str = "cpu", dtype: str = "fp32"):
    """A checkpoint as a model with ``.translate(texts)`` and ``.transcribe(paths)`` (``s2s.inference.api``).

    Imported here on first use, so that ``import s2s`` (and every command) stays quick."""
    from s2s.inference.api import load as load_model

    return load_model(path, device=device, dtype=dtype)
