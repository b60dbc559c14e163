#!/usr/bin/env bash
# Builds the test bed's Go-built components from their Go modules and caches them outside the
# clone, keyed by component, version and a hash of the pinning go.mod/go.sum, so that a fresh
# clone on the same machine (as CI uses) reuses them:
#
#   ~/.cache/wardwatch/<component>-<version>-<hash>/bin/...   the binaries
#   ~/.cache/wardwatch/bin/                                    symlinks to the current ones
#   ~/.cache/wardwatch/crds/prometheus-operator/*.yaml         prometheus-operator's CRDs
#   ~/.cache/wardwatch/manifests/prometheus-operator/*.yaml    its example RBAC and Deployment
#
# WARDWATCH_CACHE overrides the cache root. Prints one line per component.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${WARDWATCH_CACHE:-$HOME/.cache/wardwatch}
mkdir -p "$cache/bin" "$cache/crds"

# The pinned versions live in the go.mod files; read them back so there is one source of truth.
module_version() { # <component dir> <module path>
	awk -v m="$2" '$1 == m || ($1 == "require" && $2 == m) { print ($1 == m ? $2 : $3); exit }' "$here/go/$1/go.mod"
}
module_dir() { # <component dir> <module path> -> its directory in the module cache, downloaded if
	# need be (`go list -m` alone prints nothing for a module not downloaded yet, as on a fresh machine)
	(cd "$here/go/$1" && go mod download -json "$2" | awk -F'"' '/"Dir":/ { print $4 }')
}
key_of() { # <component dir> -> short hash of go.mod + go.sum + this script's build flags
	cat "$here/go/$1/go.mod" "$here/go/$1/go.sum" <(grep -E '^\s*build_one ' "$0") | sha256sum | cut -c1-12
}

# build_one <component dir> <version> <output name> <package> [ldflags] [build tags]
build_one() {
	local dir=$1 version=$2 name=$3 pkg=$4 ldflags=${5:-} tags=${6:-}
	local dest="$cache/$dir-$version-$(key_of "$dir")/bin"
	if [[ ! -x "$dest/$name" ]]; then
		mkdir -p "$dest"
		local started=$SECONDS
		(cd "$here/go/$dir" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$dest/$name.tmp" "$pkg")
		mv "$dest/$name.tmp" "$dest/$name"
		echo "built  $name $version in $((SECONDS - started))s -> $dest/$name"
	else
		echo "cached $name $version -> $dest/$name"
	fi
	ln -sfn "$dest/$name" "$cache/bin/$name"
}

k8s=$(module_version kubernetes k8s.io/kubernetes)
k8s_minor=$(echo "$k8s" | cut -d. -f2)
k8s_flags="-X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/client-go/pkg/version.gitVersion=$k8s -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean"
build_one kubernetes "$k8s" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_flags"
build_one kubernetes "$k8s" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_flags"
build_one kubernetes "$k8s" kubectl k8s.io/kubernetes/cmd/kubectl "$k8s_flags"
# The node: kubelet, kube-scheduler and kube-proxy from the same module (tests/src/node.rs).
build_one kubernetes "$k8s" kubelet k8s.io/kubernetes/cmd/kubelet "$k8s_flags"
build_one kubernetes "$k8s" kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$k8s_flags"
build_one kubernetes "$k8s" kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$k8s_flags"

etcd=$(module_version etcd go.etcd.io/etcd/server/v3)
build_one etcd "$etcd" etcd go.etcd.io/etcd/server/v3

# Cluster DNS for the real node.
coredns=$(module_version coredns github.com/coredns/coredns)
build_one coredns "$coredns" coredns github.com/coredns/coredns "-X github.com/coredns/coredns/coremain.GitCommit=$coredns"

# The real node's NetworkPolicy enforcer: kube-router's firewall controller alone (iptables and
# ipset; its router and service proxy stay off), so that a quarantine is enforced.
kube_router=$(module_version kube-router github.com/cloudnativelabs/kube-router/v2)
build_one kube-router "$kube_router" kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
	"-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$kube_router -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=module"

po=$(module_version prometheus-operator github.com/prometheus-operator/prometheus-operator)
build_one prometheus-operator "$po" prometheus-operator github.com/prometheus-operator/prometheus-operator/cmd/operator \
	"-X github.com/prometheus/common/version.Version=${po#v} -X github.com/prometheus/common/version.Branch=release -X github.com/prometheus/common/version.Revision=$po"
# Its config reloader, the sidecar of the Prometheus and Alertmanager pods it runs on the real node.
build_one prometheus-operator "$po" prometheus-config-reloader github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader \
	"-X github.com/prometheus/common/version.Version=${po#v} -X github.com/prometheus/common/version.Branch=release -X github.com/prometheus/common/version.Revision=$po"

# Prometheus with Kubernetes service discovery (and no other), for the real node's in-cluster
# Prometheus (a name of its own: the suites that run Prometheus as a local process find
# Debian's on PATH).
prometheus=$(module_version prometheus github.com/prometheus/prometheus)
prometheus_release=$(cat "$(module_dir prometheus github.com/prometheus/prometheus)/VERSION")
build_one prometheus "$prometheus" prometheus-with-kubernetes-sd github.com/prometheus/prometheus/cmd/prometheus \
	"-X github.com/prometheus/common/version.Version=$prometheus_release -X github.com/prometheus/common/version.Branch=release -X github.com/prometheus/common/version.Revision=$prometheus" \
	remove_all_sd,enable_kubernetes_sd

# Alertmanager at the version prometheus-operator renders for, for the in-cluster Alertmanager.
# Its module embeds the web UI from ui/app/dist, which only its npm build makes and the module
# does not ship: the build replaces the module with a copy holding a one-page placeholder (the
# API, all the suites use, is unchanged).
alertmanager=$(module_version alertmanager github.com/prometheus/alertmanager)
am_source="$cache/src/alertmanager-$alertmanager"
if [[ ! -f "$am_source/ui/app/dist/index.html" ]]; then
	rm -rf "$am_source" && mkdir -p "$(dirname "$am_source")"
	cp -r "$(module_dir alertmanager github.com/prometheus/alertmanager)" "$am_source"
	chmod -R u+w "$am_source"
	mkdir -p "$am_source/ui/app/dist"
	echo '<!doctype html><title>Alertmanager</title><p>This Alertmanager is built without its web UI (tests/testbed/build.sh); the API is at /api/v2/.' \
		>"$am_source/ui/app/dist/index.html"
fi
am_modfile=$(mktemp -d)
cp "$here/go/alertmanager/go.mod" "$here/go/alertmanager/go.sum" "$am_modfile/"
(cd "$am_modfile" && go mod edit -replace "github.com/prometheus/alertmanager=$am_source")
GOFLAGS="-modfile=$am_modfile/go.mod" build_one alertmanager "$alertmanager" alertmanager github.com/prometheus/alertmanager/cmd/alertmanager \
	"-X github.com/prometheus/common/version.Version=${alertmanager#v} -X github.com/prometheus/common/version.Branch=release -X github.com/prometheus/common/version.Revision=$alertmanager"
rm -rf "$am_modfile"

# The dashboards' schema check (tests/testbed/go/dashboard-check): grafana-foundation-sdk's types
# for Grafana's dashboard schema, decoding strictly.
gfsdk=$(module_version dashboard-check github.com/grafana/grafana-foundation-sdk/go)
build_one dashboard-check "$gfsdk" dashboard-check .

helm=$(module_version helm helm.sh/helm/v3)
build_one helm "$helm" helm helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$helm -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

# prometheus-operator's CRDs, from the very module version the operator was built from.
po_dir=$(module_dir prometheus-operator github.com/prometheus-operator/prometheus-operator)
mkdir -p "$cache/crds/prometheus-operator"
cp -f "$po_dir"/example/prometheus-operator-crd/*.yaml "$cache/crds/prometheus-operator/"
chmod u+w "$cache/crds/prometheus-operator/"*.yaml
echo "crds   prometheus-operator $po -> $cache/crds/prometheus-operator ($(ls "$cache/crds/prometheus-operator" | wc -l) files)"

# Its example RBAC and Deployment (and Prometheus's RBAC), from the same module version, for
# running it as a pod on the real node (tests/src/node/monitoring.rs).
mkdir -p "$cache/manifests/prometheus-operator"
for f in "$po_dir"/example/rbac/prometheus-operator/prometheus-operator-{cluster-role,cluster-role-binding,service-account,deployment}.yaml \
	"$po_dir"/example/rbac/prometheus/prometheus-{cluster-role,cluster-role-binding,service-account}.yaml; do
	cp -f "$f" "$cache/manifests/prometheus-operator/"
done
chmod u+w "$cache/manifests/prometheus-operator/"*.yaml
echo "rbac   prometheus-operator $po -> $cache/manifests/prometheus-operator ($(ls "$cache/manifests/prometheus-operator" | wc -l) files)"
