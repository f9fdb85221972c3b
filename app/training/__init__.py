"""Training and evaluation of the contrastive video-text model."""
