// Command etcd is the etcd server at the version k8s.io/kubernetes names.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
