# The safegen container image: all four services and the CLI, bundled models included, as a non-root user.
#   docker build -t safegen .                     (podman build works the same)
#   docker run --rm -p 50051:50051 -p 9464:9464 -p 8080:8080 safegen             # all four services
#   docker run --rm safegen serve text-moderation --port 50051 --metrics-port 9464
# Build arguments: BASE_IMAGE (a Debian-like image with Python 3.11 as python3), TORCH_VERSION and
# TORCH_INDEX_URL (empty: pip's own configuration, e.g. PIP_FIND_LINKS pointing at a local wheel).
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------- build
FROM ${BASE_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
# The CPU build: asking pip for plain torch would pull gigabytes of CUDA packages.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Passed through to pip when given (mirrors, a local wheel directory, a proxy's CA bundle).
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=180 \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
# torch first and pinned, so the project's `torch>=...` is already satisfied and pulls nothing more.
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
      pip install "torch==${TORCH_VERSION}" --index-url "$TORCH_INDEX_URL"; \
    else \
      pip install "torch==${TORCH_VERSION}"; \
    fi
WORKDIR /src
# Dependencies before sources, so a code change rebuilds only the last layers.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      >/tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt
COPY setup.py README.md ./
COPY services/ services/
COPY gateway/ gateway/
# A regular (non-editable) install: the package and its data (guardrails, word lists, bundled weights)
# land in /opt/venv. pip compiles bytecode as it installs, which matters because the root filesystem is
# read-only at run time.
RUN pip install --no-deps . \
 && safegen --help >/dev/null
# The text classifier is a committed int8 ONNX model: loading it once here is a smoke check, nothing is written.
RUN HF_HUB_OFFLINE=1 python3 -m safegen.text.classifier
# Denied topics embed with the plain MiniLM sentence encoder, exported to ONNX on first use: do it here, into
# the venv, so a pod with a read-only root filesystem never exports (~10 s, 150 MB) when a guardrail has topics.
RUN HF_HUB_OFFLINE=1 python3 -c "from safegen.text.classifier import load_backbone; \
      load_backbone(cache_dir='/opt/venv/share/safegen/text-encoder')"
# The image detectors' exact graph rewrites are in the wheel (setup.py prepares them at build time), so a start
# loads them as they are instead of importing onnx and rewriting two 24 MB models (~1 s per pod start); this
# step only confirms they are there (it writes them if the build environment could not).
RUN python3 -m safegen.image.backends.models
# The bundled generator runs on onnxruntime from committed ONNX files: a smoke load, nothing is written.
RUN python3 -c "from safegen.generation.backends.bundled import BundledBackend; BundledBackend()"

# ---------------------------------------------------------------------------------------------- final
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="safegen" \
      org.opencontainers.image.description="Safe text-to-image generation as gRPC microservices" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 safegen \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin safegen
# Only the virtual environment crosses over: no compilers, pip caches or sources in the final image.
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    OMP_WAIT_POLICY=PASSIVE \
    HF_HUB_OFFLINE=1 \
    SAFEGEN_TEXT_CLASSIFIER_CACHE_DIR=/opt/venv/share/safegen/text-encoder \
    SAFEGEN_LOG_FORMAT=json
USER 10001:10001
WORKDIR /tmp
# gRPC, Prometheus metrics, the gateway's HTTP/JSON API and web page.
EXPOSE 50051 9464 8080
ENTRYPOINT ["safegen"]
CMD ["serve"]
