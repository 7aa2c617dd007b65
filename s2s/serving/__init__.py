"""Serving a checkpoint: ``s2s serve`` (LitServe: an HTTP API with dynamic batching) and ``s2s app``
(a Gradio page). Requests are checked in the HTTP process, before they can join a batch; the
inference workers decode them with the same front ends as ``s2s translate`` and ``s2s transcribe``."""
