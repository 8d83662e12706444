// Command etcd is etcd's own server, from the module skiff already
// embeds, for the etcd test image: the sample API server's pod runs it as
// a sidecar (`/usr/local/bin/etcd --listen-client-urls ...`).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
