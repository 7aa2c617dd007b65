"""Decoding: options, logit filters, token choosers (greedy/sampling, beam) and the loop."""

from s2s.decoding.options import DecodingOptions
from s2s.decoding.search import Hypothesis, generate

__all__ = ["DecodingOptions", "Hypothesis", "generate"]
