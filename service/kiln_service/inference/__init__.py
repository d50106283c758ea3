"""Running the model: dynamic batching and the forward-pass thread."""
