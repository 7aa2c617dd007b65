"""Models for runtimes without PyTorch: ONNX graphs with a numpy/onnxruntime greedy loop, and CTranslate2."""
