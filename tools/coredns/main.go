// Wrapper module: builds CoreDNS for the cluster tier of the test bed with
// only the plugins the bed's Corefile uses. The upstream binary compiles in
// every plugin, among them forward, grpc, route53, azure and clouddns, which
// send queries off the machine; this one has none of them, so no Corefile can
// make the bed's DNS resolve a name through anything but the kube-apiserver
// (an unknown directive is a start-up error, not a silent no-op).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// Each import registers one plugin; the list below orders them.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

// The execution order of a request through the plugins, as upstream's
// plugin.cfg orders these same plugins: a plugin sees the effect of those
// after it.
var directives = []string{
	"bind",
	"ready",
	"health",
	"errors",
	"log",
	"template",
	"kubernetes",
}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
