// Command images builds the container images that upstream's conformance
// suite (e2e.test, [Conformance] specs) runs, from source, as
// docker-archive tarballs that skiff's nodes import from
// <data-dir>/images, plus the KUBE_TEST_REPO_LIST file that points the
// suite at them:
//
//	go run ./test/conformance/images -out DIR -version v1.37 \
//	    -agnhost BIN -sample-apiserver BIN -etcd BIN -tools BIN -pause BIN
//
// Every image is named under a local prefix (-prefix, skiff.test by
// default), with upstream's image names and tags. agnhost and the sample
// API server are built from the suite's own module (see
// test/conformance/images.sh), etcd from cmd/etcd, the shell tools from
// Debian's busybox-static, and what busybox lacks (dig, getent, curl, nc,
// a web server) from cmd/e2etools. The images holding our nc use Debian's
// dash, with its libraries, as /bin/sh, because busybox-static's shell
// prefers its own applets to PATH. An image whose program was not given is
// skipped with a warning. A tarball newer than every file it is made of is
// kept, so a second run rewrites nothing.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"skiff/internal/images"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "", "folder for the tarballs and repo-list.yaml (required)")
	version := flag.String("version", "v1.37", "suite version: v1.37 or v1.34")
	prefix := flag.String("prefix", "skiff.test", "registry prefix of every image name")
	busyboxPath := flag.String("busybox", "/bin/busybox", "busybox-static binary")
	toolsPath := flag.String("tools", "", "e2etools binary (cmd/e2etools)")
	agnhostPath := flag.String("agnhost", "", "agnhost binary, built from the suite's module")
	apiserverPath := flag.String("sample-apiserver", "", "sample API server binary, built from the suite's module")
	etcdPath := flag.String("etcd", "", "etcd binary (cmd/etcd)")
	pausePath := flag.String("pause", "", "skiff-pause binary")
	shPath := flag.String("sh", "/bin/dash", "dynamically linked POSIX shell for the images with our nc; its libraries come along")
	bashPath := flag.String("bash", "/bin/bash", "bash, the /bin/sh of the busybox image: unlike busybox-static's shell it passes on environment variables whose names are no shell identifiers, as upstream's busybox does")
	force := flag.Bool("force", false, "rewrite tarballs that are up to date")
	flag.Parse()
	if *out == "" {
		return fmt.Errorf("-out is required")
	}
	entries, err := catalog(*version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}

	paths := map[string]string{"busybox": *busyboxPath, "tools": *toolsPath, "agnhost": *agnhostPath,
		"sample-apiserver": *apiserverPath, "etcd": *etcdPath, "pause": *pausePath, "sh": *shPath, "bash": *bashPath}
	var in Inputs
	read := map[string]*[]byte{"busybox": &in.Busybox, "tools": &in.Tools, "agnhost": &in.Agnhost,
		"sample-apiserver": &in.SampleAPIServer, "etcd": &in.Etcd, "pause": &in.Pause, "sh": &in.Sh, "bash": &in.Bash}
	for name, p := range paths {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		*read[name] = b
	}
	if len(in.Busybox) > 0 {
		if in.Applets, err = applets(*busyboxPath); err != nil {
			return err
		}
	}
	if len(in.Sh) > 0 {
		if in.ShLibs, err = sharedLibs(*shPath); err != nil {
			return err
		}
	}
	if len(in.Bash) > 0 {
		if in.BashLibs, err = sharedLibs(*bashPath); err != nil {
			return err
		}
	}
	if in.Cert, in.Key, err = selfSignedCert(time.Now()); err != nil {
		return fmt.Errorf("porter certificate: %w", err)
	}

	list := repoList(*prefix)
	if err := os.WriteFile(filepath.Join(*out, "repo-list.yaml"), repoListYAML(*prefix), 0o644); err != nil {
		return err
	}
	for _, e := range entries {
		ref := fmt.Sprintf("%s/%s:%s", list[e.registry], e.name, e.tag)
		if missing := e.kind.missing(in); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "images: skipping %s: no %s given\n", ref, strings.Join(missing, ", "))
			continue
		}
		dst := filepath.Join(*out, e.file())
		if !*force && upToDate(dst, inputsOf(e.kind, paths)) {
			fmt.Printf("%s %s (up to date)\n", ref, dst)
			continue
		}
		if err := images.Write(dst, e.spec(ref, in)); err != nil {
			return fmt.Errorf("image %s: %w", ref, err)
		}
		fmt.Printf("%s %s\n", ref, dst)
	}
	return nil
}

// applets lists the applets compiled into busybox.
func applets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busybox, err)
	}
	return strings.Fields(string(out)), nil
}

// sharedLibs reads the shared libraries a program loads, as ldd lists
// them, as image files at the same paths.
func sharedLibs(program string) ([]images.File, error) {
	out, err := exec.Command("ldd", program).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", program, err)
	}
	var files []images.File
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if !strings.HasPrefix(f, "/") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			files = append(files, images.File{Path: strings.TrimPrefix(f, "/"), Mode: 0o755, Data: data})
			break
		}
	}
	return files, nil
}

// inputsOf lists the files an image kind is made of.
func inputsOf(k kind, paths map[string]string) []string {
	var files []string
	for _, n := range k.inputs() {
		files = append(files, paths[n])
	}
	if self, err := os.Executable(); err == nil && !strings.Contains(self, "go-build") {
		files = append(files, self) // a rebuilt image program may make other images
	}
	return files
}

// upToDate reports whether dst exists and is newer than every input.
func upToDate(dst string, inputs []string) bool {
	st, err := os.Stat(dst)
	if err != nil {
		return false
	}
	for _, in := range inputs {
		is, err := os.Stat(in)
		if err != nil || !is.ModTime().Before(st.ModTime()) {
			return false
		}
	}
	return true
}
