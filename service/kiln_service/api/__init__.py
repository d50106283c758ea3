"""HTTP routes: probes, metrics and the inference API."""
