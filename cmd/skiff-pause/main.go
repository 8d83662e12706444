// Command skiff-pause is the process of every pod sandbox: it holds the
// pod's namespaces open, reaps orphaned children (it is PID 1 when the pod
// shares its PID namespace), and exits cleanly on SIGTERM or SIGINT.
// skiff builds it statically and imports it as the sandbox image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
