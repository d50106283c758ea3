"""Adapters: many small models on top of the base model, loaded on demand and cached.

An adapter is a directory with a safetensors head and a manifest (`manifest.py`). Requests
name one (`POST /v1/classify`, in `api.py`); the cache (`cache.py`) loads it off the event
loop on first use, shares that load between concurrent requests, pins it while requests use
it and evicts the least recently used unpinned adapter when its byte or count limit would be
exceeded. `kiln adapter fit` (`cli.py`, `fit.py`) trains a head from labelled texts.
"""
