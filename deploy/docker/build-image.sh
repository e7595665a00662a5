#!/usr/bin/env bash
# Builds the code location's image, `make image`. Prints the image's tag on its last line.
#
# 1. The base: BASE (default python:3.11-slim), pulled if absent; when it cannot be pulled,
#    consolidation-base:bookworm, built from Debian packages by build-base.sh.
# 2. The tag: IMAGE (default consolidation-assets) and a digest of everything the image is
#    made of (Dockerfile, lock, pyproject, this script, settings, the package's files, the
#    base's id). An image with that tag already built is reused, unless FORCE=1.
#    IMAGE:latest points at it.
# 3. The wheels: `pip wheel` on the host against requirements.lock, with PYTHON (default
#    python3.11). torch must come as its CPU build: with no CPU wheel at hand, pip takes the
#    CUDA one (gigabytes), so set TORCH_INDEX_URL to an index of CPU wheels (PyTorch publishes
#    one) or PIP_FIND_LINKS to a folder holding the wheel.
# 4. `docker build --network none`: nothing is downloaded inside the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="${IMAGE:-consolidation-assets}"
base="${BASE:-python:3.11-slim}"
python="${PYTHON:-python3.11}"
out=build/image

if ! docker image inspect "$base" >/dev/null 2>&1 && ! docker pull -q "$base" >/dev/null 2>&1; then
  local_base=consolidation-base:bookworm
  echo "cannot pull $base; using $local_base, built from Debian packages" >&2
  if ! docker image inspect "$local_base" >/dev/null 2>&1; then
    deploy/docker/build-base.sh "$local_base" >&2
  fi
  base="$local_base"
fi

digest="$(
  {
    sha256sum Dockerfile .dockerignore requirements.lock pyproject.toml \
      deploy/docker/build-image.sh deploy/docker/dagster.docker.yaml deploy/docker/workspace.yaml
    find consolidation_assets -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum
    docker image inspect -f '{{.Id}}' "$base"
  } | sha256sum | cut -c1-12
)"
tag="$repo:$digest"
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag is up to date" >&2
  docker tag "$tag" "$repo:latest"
  echo "$tag"
  exit 0
fi

start=$(date +%s)
# The dependencies' wheels are made again only when the lock or the dependencies change.
deps_key="$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16) ${TORCH_INDEX_URL:-}"
if [ "$(cat "$out/wheels/.key" 2>/dev/null)" != "$deps_key" ]; then
  rm -rf "$out/wheels"
  mkdir -p "$out/wheels"
  "$python" -m pip wheel --quiet --wheel-dir "$out/wheels" -c requirements.lock \
    ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} . >&2
  rm -f "$out"/wheels/consolidation_assets-*.whl
  shopt -s nullglob nocaseglob
  cuda=("$out"/wheels/nvidia*)
  cpu_torch=("$out"/wheels/torch-*+cpu-*.whl)
  shopt -u nullglob nocaseglob
  if [ "${#cuda[@]}" -gt 0 ] || [ "${#cpu_torch[@]}" -eq 0 ]; then
    echo "pip took a CUDA build of torch: set TORCH_INDEX_URL to an index of CPU wheels," \
      "or PIP_FIND_LINKS to a folder holding torch's CPU wheel, and run again" >&2
    rm -rf "$out/wheels"
    exit 1
  fi
  # What the image installs: the package's own dependencies (the lock also pins dev tools).
  "$python" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
    > "$out/wheels/requirements.txt"
  echo "$deps_key" > "$out/wheels/.key"
fi
rm -rf "$out/project"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$out/project" . >&2

# The build stage is tagged IMAGE:build-cache, so its layers (the installed dependencies above
# all) are reused by the next build while the lock is unchanged; older ones are dropped by id.
docker build --network none --build-arg BASE="$base" --target build -t "$repo:build-cache" . >&2
docker build --network none --build-arg BASE="$base" \
  --label "org.consolidation-assets.inputs=$digest" -t "$tag" -t "$repo:latest" . >&2
mapfile -t stale < <(
  docker images -q --filter dangling=true --filter label=org.consolidation-assets.stage=build
  docker images -q --filter dangling=true \
    --filter label=org.opencontainers.image.title=consolidation-assets
)
if [ "${#stale[@]}" -gt 0 ]; then
  docker rmi "${stale[@]}" >/dev/null 2>&1 || true
fi
echo "built $tag from $base in $(($(date +%s) - start)) s (wheels and docker build);" \
  "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}')" >&2
echo "$tag"
