"""kopf settings and credentials for the operator.

kopf keeps its handler progress and the last handled spec in annotations under
``kiln.dev/``, so the status carries only kiln's own fields. kopf's log records are not
posted as events. The handlers post explicit events for their decisions instead, so each
decision produces one event with a meaningful reason. Scanning for CRDs is off, because the
operator knows its resources and would otherwise need cluster-wide CRD permissions.
"""

from __future__ import annotations

import logging

import kopf
from kubernetes import client

from kiln_operator.config import OperatorConfig


def configure_settings(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kiln.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kiln.dev", key="last-handled-configuration")
    settings.persistence.finalizer = "kiln.dev/finalizer"
    settings.posting.level = logging.CRITICAL + 10
    settings.posting.reporting_component = "kiln-operator"
    settings.scanning.disabled = True
    settings.watching.server_timeout = config.watch_timeout_seconds
    settings.execution.default_backoff = config.retry_base_seconds


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """Return kopf's credentials from the same configuration the operator's client uses."""
    token = (configuration.api_key or {}).get("authorization") or \
        (configuration.api_key or {}).get("BearerToken")
    if token and token.startswith("Bearer "):
        token = token.removeprefix("Bearer ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )
