#!/usr/bin/env bash
# Builds wardwatch's container images without a container engine, as plain image archives
# (manifest.json + config JSON + one layer tar, the format `ctr images import` and
# `docker load` take):
#
#   scripts/images.sh <binary dir> <output dir> [version]
#
# writes <output dir>/wardwatch-{operator,exporter,simulator}.tar, tagged
# ghcr.io/wardwatch/wardwatch-<component>:<version> (the names the chart and the operator use;
# version defaults to the workspace's), and <output dir>/pause.tar, tagged
# localhost/wardwatch/pause:1, a sandbox image whose command waits for a signal.
#
# It also packs the monitoring stack's binaries the test bed already has, the same way:
# localhost/wardwatch/prometheus-operator:<v> and .../prometheus-config-reloader:<v> (built by
# tests/testbed/build.sh), .../prometheus:<v> (built by it too, with Kubernetes service discovery)
# and .../alertmanager:<v> (built by it too), as
# prometheus-operator.tar, prometheus-config-reloader.tar, prometheus.tar and alertmanager.tar.
#
# Each wardwatch image's root filesystem is assembled by scripts/rootfs.sh (as in the
# Dockerfile): the binary (debug sections stripped) at /usr/local/bin, the shared libraries it
# links, the CA certificates, /etc/passwd and /etc/group with root and the non-root user 65532,
# and nothing else; it runs as 65532. The exporter's binary carries the file capabilities
# cap_net_raw,cap_net_admin=ep (the layer tar keeps them as a security.capability PAX record).
# Prints one line per image with its size.
set -euo pipefail

bin_dir=$(cd "$1" && pwd)
out=$(mkdir -p "$2" && cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${3:-$(awk -F'"' '/^version *=/ { print $2; exit }' "$here/Cargo.toml")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# image <name:tag> <rootfs dir> <output tar> <entrypoint> [user]
image() {
	local tag=$1 rootfs=$2 archive=$3 entrypoint=$4 user=${5:-65532:65532}
	local dir="$work/archive-$(basename "$archive" .tar)"
	mkdir -p "$dir"
	# Reproducible: sorted names, numeric root ownership, a fixed time; file capabilities kept.
	tar --format=pax --xattrs --xattrs-include=security.capability --sort=name --mtime=@0 \
		--numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$dir/layer.tar" .
	local layer_sha
	layer_sha=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
	mkdir -p "$dir/$layer_sha"
	mv "$dir/layer.tar" "$dir/$layer_sha/layer.tar"
	cat >"$dir/config.json" <<-EOF
		{"architecture":"amd64","os":"linux",
		 "config":{"User":"$user","Entrypoint":["$entrypoint"],"WorkingDir":"/",
		           "Env":["PATH=/usr/local/bin:/usr/bin:/bin","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]},
		 "rootfs":{"type":"layers","diff_ids":["sha256:$layer_sha"]},
		 "history":[{"created_by":"scripts/images.sh"}]}
	EOF
	local config_sha
	config_sha=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
	mv "$dir/config.json" "$dir/$config_sha.json"
	printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$config_sha" "$tag" "$layer_sha" \
		>"$dir/manifest.json"
	tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$dir" -cf "$archive" .
	echo "image  $tag -> $archive ($(du -k "$archive" | cut -f1) KiB; layer $(du -k "$dir/$layer_sha/layer.tar" | cut -f1) KiB)"
}

# The file capabilities the exporter's binary carries (raw capture); the Dockerfile sets the same.
exporter_capabilities=cap_net_raw,cap_net_admin=ep

for component in operator exporter simulator; do
	binary="$bin_dir/wardwatch-$component"
	[[ -x "$binary" ]] || {
		echo "missing $binary: build it first (cargo build -p wardwatch-$component)" >&2
		exit 1
	}
	root="$work/rootfs-$component"
	capabilities=""
	[[ $component == exporter ]] && capabilities=$exporter_capabilities
	bash "$here/scripts/rootfs.sh" "$binary" "$root" /usr/local/bin $capabilities
	image "ghcr.io/wardwatch/wardwatch-$component:$version" "$root" "$out/wardwatch-$component.tar" \
		"/usr/local/bin/wardwatch-$component"
done

# The monitoring stack, from the test bed's binaries.
cache=${WARDWATCH_CACHE:-$HOME/.cache/wardwatch}
# testbed_image <name> <binary> <version>
testbed_image() {
	local name=$1 binary=$2 tag=$3
	local root="$work/rootfs-$name"
	# At /bin, where upstream's images have them: prometheus-operator names
	# /bin/prometheus-config-reloader as the reloader's command.
	cp "$binary" "$work/$name"
	bash "$here/scripts/rootfs.sh" "$work/$name" "$root" /bin
	image "localhost/wardwatch/$name:$tag" "$root" "$out/$name.tar" "/bin/$name"
}
# The cache's link names the build directory, <component>-<version>-<hash>.
po_version=$(basename "$(dirname "$(dirname "$(readlink -f "$cache/bin/prometheus-operator")")")" | cut -d- -f3)
testbed_image prometheus-operator "$cache/bin/prometheus-operator" "$po_version"
testbed_image prometheus-config-reloader "$cache/bin/prometheus-config-reloader" "$po_version"
# Prometheus built from its module with Kubernetes service discovery (tests/testbed/build.sh):
# Debian's has none and refuses the configuration prometheus-operator renders from a PodMonitor.
prometheus_version=$("$cache/bin/prometheus-with-kubernetes-sd" --version | awk 'NR == 1 { print $3 }')
testbed_image prometheus "$cache/bin/prometheus-with-kubernetes-sd" "v$prometheus_version"
# Alertmanager at prometheus-operator's version, built by tests/testbed/build.sh too: the
# operator renders arguments Debian's 0.25 refuses.
alertmanager_version=$("$cache/bin/alertmanager" --version | awk 'NR == 1 { print $3 }')
testbed_image alertmanager "$cache/bin/alertmanager" "v$alertmanager_version"

# The node's cluster DNS: CoreDNS, built by tests/testbed/build.sh from its module.
coredns_version=$("$cache/bin/coredns" -version | awk -F- 'NR == 1 { print $2 }')
testbed_image coredns "$cache/bin/coredns" "v$coredns_version"

# The sandbox ("pause") image: a static program that waits for SIGINT or SIGTERM and reaps
# children, as Kubernetes' own pause does.
root="$work/rootfs-pause"
mkdir -p "$root"
cat >"$work/pause.c" <<-'EOF'
	#include <signal.h>
	#include <stdlib.h>
	#include <sys/wait.h>
	#include <unistd.h>
	static void stop(int sig) { (void)sig; _exit(0); }
	static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
	int main(void) {
	    signal(SIGINT, stop);
	    signal(SIGTERM, stop);
	    signal(SIGCHLD, reap);
	    for (;;) pause();
	}
EOF
cc -static -Os -s -o "$root/pause" "$work/pause.c"
image "localhost/wardwatch/pause:1" "$root" "$out/pause.tar" /pause 65535:65535
