"""Synthetic cine cardiac MRI studies with ground truth, and the report text written for them."""
