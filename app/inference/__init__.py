"""Encoder backends: the released ONNX encoders run in-process (embedded) or on Triton."""
