#!/usr/bin/env bash
# Installs what wardwatch's build and tests need on a fresh Debian machine, skipping what is
# already there: Debian packages (libpcap, Prometheus, Alertmanager, tshark, tcpdump, iproute2,
# python3-venv, python3-yaml; containerd, runc, CNI plugins, iptables, ipset and setcap for the real
# node), the Rust components rustfmt and clippy, Wireshark's test captures from Debian's
# wireshark source package, python-hl7's mllp_send, and a check that Go is new enough for the
# test bed.
set -euo pipefail

debian_packages=(
	libpcap-dev            # the exporter's capture library (pcap crate)
	prometheus             # prometheus and promtool
	prometheus-alertmanager # alertmanager and amtool
	tshark tcpdump         # reference readers of captures
	iproute2               # network namespaces and veth pairs for capture tests
	python3-venv           # python-hl7's virtual environment (scripts/python-hl7.sh)
	python3-aiosmtpd       # a real SMTP server for the e-mail receivers (tests/src/smtp.rs)
	python3-yaml           # PyYAML: `wardwatch-operator render` output must load in a YAML 1.1 reader
	containerd runc        # the real node's container runtime (tests/src/node/)
	containernetworking-plugins # its pod network: bridge, host-local, loopback (/usr/lib/cni)
	iptables ipset         # kube-proxy's Service rules and kube-router's NetworkPolicy rules in the node's namespace
	libcap2-bin            # setcap: the exporter image's file capabilities (scripts/images.sh)
	ca-certificates curl git
)

missing=()
for package in "${debian_packages[@]}"; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
	echo "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer for it.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for component in rustfmt clippy; do
	if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
		rustup component add "$component"
	fi
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$here/wireshark-captures.sh" # third-party captures for the exporter's tshark comparison
bash "$here/python-hl7.sh"         # a third-party MLLP sender for the exporter's live test

# The test bed's Go modules declare go 1.26.0; newer local toolchains build them as they are.
if ! command -v go >/dev/null; then
	echo "Go is missing: install Go 1.26 or newer (the test bed builds kube-apiserver, etcd, helm and prometheus-operator from their Go modules)" >&2
	exit 1
fi
echo "dependencies ok: $(go version | cut -d' ' -f3), $(rustc --version | cut -d' ' -f2), prometheus $(prometheus --version 2>&1 | head -1 | cut -d' ' -f3), alertmanager $(prometheus-alertmanager --version 2>&1 | head -1 | cut -d' ' -f3)"
