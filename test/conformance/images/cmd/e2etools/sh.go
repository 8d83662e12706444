package main

import (
	"fmt"
	"os"
	"syscall"
)

// The busybox image's /bin/sh. Upstream's busybox (1.37) keeps
// environment variables whose names are no shell identifiers (data-1, from
// a ConfigMap's keys through envFrom) in what its shell passes on, and
// prints its own error messages ("can't create /file: Read-only file
// system"), both of which specs check. Debian's busybox-static (1.35) has
// the messages but drops such variables; bash keeps them but words its
// errors otherwise. So sh runs busybox's shell, unless the environment
// holds such a variable: then bash, which passes it on.

const (
	busyboxPath = "/bin/busybox"
	bashPath    = "/bin/bash"
)

// runSh replaces the process with the shell for this environment; it
// returns only when that fails.
func runSh(e env, args []string) int {
	// The name it was started as (/bin/sh) goes on: busybox picks its
	// shell by it, and both shells name themselves by it in messages.
	prog, argv0 := busyboxPath, os.Args[0]
	if hasNonIdentifierName(os.Environ()) {
		prog = bashPath
	}
	err := syscall.Exec(prog, append([]string{argv0}, args...), os.Environ())
	fmt.Fprintf(e.stderr, "sh: exec %s: %v\n", prog, err)
	return 127
}

// hasNonIdentifierName reports whether an environment entry's name is no
// shell identifier ([A-Za-z_][A-Za-z0-9_]*).
func hasNonIdentifierName(environ []string) bool {
	for _, kv := range environ {
		for i := 0; i < len(kv) && kv[i] != '='; i++ {
			c := kv[i]
			letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !letter && (i == 0 || c < '0' || c > '9') {
				return true
			}
		}
	}
	return false
}
