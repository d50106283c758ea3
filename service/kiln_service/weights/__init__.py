"""Baked model directories: the manifest, safetensors checks and the memory-mapped load."""
