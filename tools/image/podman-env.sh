# Sourced (not run) by the image scripts and `make image`: selects the
# project's own podman/buildah configuration under .tools/containers/, so
# nothing in /etc is changed and the images live in the project's own store.
#
# Why each setting (this kind of machine: root, cgroup v1 hybrid layout, no
# CAP_SYS_RESOURCE, no container registry reachable):
#   runtime runc          crun refuses the hybrid cgroup layout
#   cgroup_manager        cgroupfs: there is no systemd to delegate to
#   events_logger file    no journald
#   default_ulimits       raising an rlimit is refused, so containers get lowered ones
#   driver overlay        native overlayfs works on the ext4 root as root
#   no search registries  a short name must never turn into a pull from elsewhere
#
# After sourcing: CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and
# CONTAINERS_REGISTRIES_CONF are exported, and the arrays FERRY_RUN_FLAGS and
# FERRY_BUILD_FLAGS hold the flags every `podman run`/`podman build` needs.

FERRY_ROOT=${FERRY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
FERRY_CONTAINERS="$FERRY_ROOT/.tools/containers"
FERRY_IMAGES="$FERRY_ROOT/.tools/images"
mkdir -p "$FERRY_CONTAINERS" "$FERRY_IMAGES"

FERRY_ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
FERRY_RUN_FLAGS=(--runtime runc "${FERRY_ULIMITS[@]}" --pull=never)
FERRY_BUILD_FLAGS=(--runtime runc "${FERRY_ULIMITS[@]}" --pull=never --format oci)

ferry_write_podman_conf() {
  cat > "$FERRY_CONTAINERS/containers.conf.new" <<EOF
# Written by tools/image/podman-env.sh; selected with CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$FERRY_CONTAINERS/events.log"
tmp_dir = "$FERRY_CONTAINERS/tmp"
EOF
  cat > "$FERRY_CONTAINERS/storage.conf.new" <<EOF
# Written by tools/image/podman-env.sh; selected with CONTAINERS_STORAGE_CONF.
[storage]
driver = "overlay"
graphroot = "$FERRY_CONTAINERS/storage"
runroot = "$FERRY_CONTAINERS/run"
EOF
  cat > "$FERRY_CONTAINERS/registries.conf.new" <<EOF
# Written by tools/image/podman-env.sh; selected with CONTAINERS_REGISTRIES_CONF.
unqualified-search-registries = []
short-name-mode = "enforcing"
EOF
  local f
  for f in containers storage registries; do
    mv "$FERRY_CONTAINERS/$f.conf.new" "$FERRY_CONTAINERS/$f.conf"
  done
}

ferry_write_podman_conf
export CONTAINERS_CONF="$FERRY_CONTAINERS/containers.conf"
export CONTAINERS_STORAGE_CONF="$FERRY_CONTAINERS/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$FERRY_CONTAINERS/registries.conf"
