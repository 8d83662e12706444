// Command e2etools is a multi-call binary holding the small command-line
// tools that upstream's conformance suite runs inside its test images and
// that Debian's busybox-static lacks: dig, getent, curl and an
// OpenBSD-flavoured nc, plus two image entrypoints, serve (a static web
// server standing in for nginx and httpd), nnp (prints the effective
// uid, for the no-new-privileges image) and sh (the busybox image's shell,
// sh.go). Each tool implements exactly the
// flags the suite uses, with the output format and exit codes the suite
// reads. The image builder links each name to this binary; the tool is
// chosen by the name it was started as, or by the first argument.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// env is what a tool reads and writes, so that tests can run it in process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// resolvConf and hosts are the resolver files (/etc/resolv.conf, /etc/hosts).
	resolvConf, hosts string
	// dnsPort, when set, replaces port 53 of resolv.conf's nameservers.
	dnsPort string
}

// tool runs one command with its arguments (without the command name) and
// returns the exit code.
type tool func(e env, args []string) int

func tools() map[string]tool {
	return map[string]tool{
		"dig":    runDig,
		"getent": runGetent,
		"curl":   runCurl,
		"nc":     runNc,
		"serve":  runServe,
		"nnp":    runNnp,
		"sh":     runSh,
	}
}

func main() {
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, resolvConf: "/etc/resolv.conf", hosts: "/etc/hosts"}
	all := tools()
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, ok := all[name]; !ok && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	t, ok := all[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "usage: e2etools dig|getent|curl|nc|serve|nnp [args]")
		os.Exit(1)
	}
	os.Exit(t(e, args))
}

// runNnp prints the effective uid: the no-new-privileges image is this
// binary, setuid root, run as a non-root user.
func runNnp(e env, _ []string) int {
	fmt.Fprintf(e.stdout, "Effective uid: %d\n", os.Geteuid())
	return 0
}
