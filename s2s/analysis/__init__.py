"""Attention-head analysis: capture the attention board, measure each head, write the report.

capture.py records weights; inputs.py is the input side (text now, audio later); collect.py runs
the model; measures.py defines each measure; heads.py names each head's pattern; report.py and
heatmaps.py write the files; dashboard.py logs pictures during training and to W&B.
"""
