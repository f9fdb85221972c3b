"""The project's vocabulary, shared by the generator, zero-shot scoring, reporting, the archive
and training: conditions and their phrases, reading an impression, the manifest of studies.
numpy-free and torch-free: the gateway imports it."""
