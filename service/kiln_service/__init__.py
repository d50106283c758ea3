"""kiln's model server: a FastAPI application whose lifespan owns the model."""

__version__ = "0.1.0"
