"""The model: its config, the text and audio encoders, the decoder with ``Wu``, and ``Seq2Seq`` around them."""
