"""The case archive: study embeddings of past studies, searched by phrase or by study."""
