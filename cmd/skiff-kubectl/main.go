// Command skiff-kubectl is the upstream kubectl, built as its own binary.
//
// It is separate from the skiff server binary because linking kubectl's
// packages into the server would cost it about 60 MiB of resident memory for
// a feature the server never uses; `skiff kubectl` execs this binary instead.
// It does what upstream's kubectl main does and nothing more, so its flags,
// output and exit codes are kubectl's.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	// Registers the client auth plugins (oidc) that kubeconfigs may name.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	// Set klog's verbosity before the command tree is built: plugins and
	// early client setup log before cobra parses -v. A malformed -v is
	// reported properly when cobra parses it, so its error is dropped here.
	_, _ = logs.GlogSetter(cmd.GetLogVerbosity(os.Args))
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// CheckErr prints the error the way kubectl does and exits non-zero.
		cmdutil.CheckErr(err)
	}
}
