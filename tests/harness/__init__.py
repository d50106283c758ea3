"""Test harness shared by the test folders: real server processes, probes and model files."""
