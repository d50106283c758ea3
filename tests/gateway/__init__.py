"""Gateway mode: a kiln server that forwards embeddings to another server."""
