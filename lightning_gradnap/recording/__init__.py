"""Model and batch to activations and gradients: batches, hooks, objectives, frame maps and the probe."""
