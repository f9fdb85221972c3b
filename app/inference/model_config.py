"""Triton's model configuration (`config.pbtxt`), as the Triton client and the deploy tooling
read it: Triton's own `ModelConfig` protobuf."""

from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc


def read_model_config(path: Path) -> mc.ModelConfig:
    """Parse a config.pbtxt; raises google.protobuf.text_format.ParseError on a bad file."""
    return text_format.Parse(path.read_text(), mc.ModelConfig())
