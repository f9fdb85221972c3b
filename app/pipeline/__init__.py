"""The data path of a study, independent of HTTP: uploads -> CineStudy -> model input ->
backend -> unit embeddings -> zero-shot scores. `Pipeline` is the one service the routes call."""
