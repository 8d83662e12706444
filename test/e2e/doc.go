// Package e2e drives the real skiff binaries as a user would: `skiff
// server` in a temporary data dir and the bundled kubectl through `skiff
// kubectl`. The binaries come from $SKIFF_BIN_DIR (make test builds them).
package e2e
