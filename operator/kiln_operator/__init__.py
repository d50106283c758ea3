"""The kiln operator: turns ModelService objects into Deployments sized to their model.

Importing this package loads neither kopf nor the kubernetes client, so that `kiln tune`
works without them. The kopf handlers live in `kiln_operator.handlers`.
"""

__version__ = "0.1.0"
