//go:build tools

// Pins kube-router, the real node's NetworkPolicy enforcer (its firewall controller only: iptables
// and ipset, which this machine's kernel has), for tests/testbed/build.sh.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
