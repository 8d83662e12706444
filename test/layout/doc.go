// Package layout holds a test that keeps the import rules of
// ARCHITECTURE.md true: it reads every package's imports with go/parser
// and fails on an import the layout forbids.
package layout
