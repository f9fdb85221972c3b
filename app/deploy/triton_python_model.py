"""Triton python-backend model that runs an encoder's ONNX file with onnxruntime.

Not imported by the gateway: `app.deploy.triton_repository` copies this file as `model.py`
into each model's version folder of the python-backend variant, where Triton's python stub (in
the server venv, `.venv-triton`) loads it. The production repository serves the same ONNX file
with the onnxruntime backend; this variant exists because the CPU-only Triton that tests and
`make triton-up` run (pytriton's binary) bundles only the python backend.

`execute` gets every request the dynamic batcher gathered; requests whose non-batch shapes agree
(all of them for the video encoder, equal token lengths for the text encoder) are concatenated
into one onnxruntime run and the outputs split back, so batching is real, not a loop.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.input_names = [tensor["name"] for tensor in config["input"]]
        self.output_names = [tensor["name"] for tensor in config["output"]]
        onnx_path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        options = ort.SessionOptions()
        # No spinning worker threads after each run: this server shares its CPU with the
        # gateway here (as app/inference/embedded.py does).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        inputs = [
            [
                pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                for name in self.input_names
            ]
            for request in requests
        ]
        groups: dict[tuple[tuple[int, ...], ...], list[int]] = {}
        for index, arrays in enumerate(inputs):
            groups.setdefault(tuple(a.shape[1:] for a in arrays), []).append(index)
        responses: list[Any] = [None] * len(requests)
        for indices in groups.values():
            feeds = {
                name: np.concatenate([inputs[i][k] for i in indices])
                for k, name in enumerate(self.input_names)
            }
            try:
                outputs = self.session.run(self.output_names, feeds)
            except Exception as error:  # answered per request, as Triton expects
                failure = pb_utils.TritonError(f"onnxruntime: {error}"[:500])
                for i in indices:
                    responses[i] = pb_utils.InferenceResponse(output_tensors=[], error=failure)
                continue
            # (sum of B_i, ...) -> one slice of B_i rows per request
            bounds = np.cumsum([inputs[i][0].shape[0] for i in indices])[:-1]
            per_request = zip(*(np.split(output, bounds) for output in outputs), strict=True)
            for i, parts in zip(indices, per_request, strict=True):
                tensors = [
                    pb_utils.Tensor(name, np.ascontiguousarray(part))
                    for name, part in zip(self.output_names, parts, strict=True)
                ]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
        return responses
