"""Pure builders of the Kubernetes objects a ModelService owns: values in, dicts out."""
