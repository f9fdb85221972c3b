"""Triton and TensorRT tooling: model repository variants, TensorRT plans, a local Triton
server process. Used by the Makefile, the images and the tests; never on the request path."""
