"""CMR-CLIP model: video encoder, text encoder, CLIP head (torch; training side only)."""
