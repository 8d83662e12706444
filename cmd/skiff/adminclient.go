package main

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// adminConfigFlag gives cmd and its subcommands --kubeconfig, the admin
// kubeconfig of the server to act on, and returns what loads it: the
// flag's file, else $KUBECONFIG, else the default server's.
func adminConfigFlag(cmd *cobra.Command) func() (*rest.Config, error) {
	var kubeconfig string
	cmd.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", "", "admin kubeconfig (default: $KUBECONFIG, else /var/lib/skiff/admin.kubeconfig)")
	return func() (*rest.Config, error) {
		path := kubeconfig
		if path == "" {
			path = os.Getenv("KUBECONFIG")
		}
		if path == "" {
			path = "/var/lib/skiff/admin.kubeconfig"
		}
		return clientcmd.BuildConfigFromFlags("", path)
	}
}

// adminClientFlag is adminConfigFlag for commands that need a client.
func adminClientFlag(cmd *cobra.Command) func() (kubernetes.Interface, error) {
	config := adminConfigFlag(cmd)
	return func() (kubernetes.Interface, error) {
		rc, err := config()
		if err != nil {
			return nil, err
		}
		return kubernetes.NewForConfig(rc)
	}
}
