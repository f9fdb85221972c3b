"""CMR-CLIP: zero-shot cardiac MRI diagnosis from cine studies and free-text prompts."""
