"""Impression text -> token ids: BPE tokenizer, sentence splitting, batch encoding (no torch)."""
