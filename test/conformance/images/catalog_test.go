package main

import (
	"archive/tar"
	"errors"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"skiff/internal/images"
)

// fakeInputs stands in for the programs: each is its own name.
func fakeInputs(t *testing.T) Inputs {
	cert, key, err := selfSignedCert(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return Inputs{
		Busybox: []byte("busybox"), Applets: []string{"sh", "cat", "nc", "hostname", "busybox"},
		Tools: []byte("e2etools"), Agnhost: []byte("agnhost"), SampleAPIServer: []byte("sample-apiserver"),
		Etcd: []byte("etcd"), Pause: []byte("pause"), Cert: cert, Key: key,
		Sh: []byte("dash"), ShLibs: []images.File{{Path: "lib/x86_64-linux-gnu/libc.so.6", Mode: 0o755, Data: []byte("libc")}},
		Bash: []byte("bash"), BashLibs: []images.File{{Path: "lib/x86_64-linux-gnu/libtinfo.so.6", Mode: 0o755, Data: []byte("libtinfo")}},
	}
}

// layerFiles lists an image tarball's files as "path mode" or "path -> target".
func layerFiles(t *testing.T, path, ref string) ([]string, []string, []string) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("open %s as %s: %v", path, ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %d", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var files []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			files = append(files, h.Name+" -> "+h.Linkname)
		case tar.TypeReg:
			files = append(files, h.Name+" "+strings.TrimPrefix(fmtMode(h.Mode), "0"))
		}
	}
	sort.Strings(files)
	return files, cfg.Config.Entrypoint, cfg.Config.Cmd
}

func fmtMode(m int64) string {
	const digits = "01234567"
	s := ""
	for i := 0; i < 4; i++ {
		s = string(digits[m&7]) + s
		m >>= 3
	}
	return s
}

func TestWriteImages(t *testing.T) {
	in := fakeInputs(t)
	dir := t.TempDir()
	entries, err := catalog("v1.37")
	if err != nil {
		t.Fatal(err)
	}
	prefix := repoList("skiff.test")
	got := map[string][]string{}
	for _, e := range entries {
		ref := prefix[e.registry] + "/" + e.name + ":" + e.tag
		path := filepath.Join(dir, e.file())
		if err := images.Write(path, e.spec(ref, in)); err != nil {
			t.Fatalf("write %s: %v", ref, err)
		}
		files, entrypoint, cmd := layerFiles(t, path, ref)
		got[ref] = append(append(files, "ENTRYPOINT "+strings.Join(entrypoint, " ")), "CMD "+strings.Join(cmd, " "))
	}
	base := []string{"bin/busybox 755", "bin/cat -> busybox", "bin/hostname -> busybox",
		"etc/group 644", "etc/nsswitch.conf 644", "etc/os-release 644", "etc/passwd 644", "tmp/.keep 644"}
	shell := append([]string{"bin/sh -> busybox"}, base...)
	// The images with our nc have a shell that looks commands up on PATH.
	dash := append([]string{"bin/sh 755", "lib/x86_64-linux-gnu/libc.so.6 755"}, base...)
	with := func(lists ...[]string) []string {
		var out []string
		for _, l := range lists {
			out = append(out, l...)
		}
		sort.Strings(out[:len(out)-2])
		return out
	}
	marker := []string{"etc/skiff-test-image 644"}
	agnhostFiles := []string{"agnhost 755", "agnhost-2 -> agnhost", "bin/bash -> sh", "localhost.crt 644", "localhost.key 600",
		"uploads/.keep 644", "usr/bin/curl -> e2etools", "usr/bin/dig -> e2etools", "usr/bin/e2etools 755",
		"usr/bin/getent -> e2etools", "usr/bin/nc -> e2etools"}
	dnsFiles := []string{"usr/bin/curl -> e2etools", "usr/bin/dig -> e2etools", "usr/bin/e2etools 755",
		"usr/bin/getent -> e2etools", "usr/bin/nc -> e2etools"}
	busyboxNc := []string{"bin/nc -> busybox"}
	// The busybox image's sh is e2etools' dispatcher: busybox's shell, or
	// bash for environments busybox-static's shell would cut down.
	bash := append([]string{"bin/bash 755", "bin/sh -> /usr/bin/e2etools", "lib/x86_64-linux-gnu/libtinfo.so.6 755", "usr/bin/e2etools 755"}, base...)
	want := map[string][]string{
		"skiff.test/e2e-test-images/agnhost:2.66.1":          with(dash, marker, agnhostFiles, []string{"ENTRYPOINT /agnhost", "CMD pause"}),
		"skiff.test/e2e-test-images/agnhost:2.55":            with(dash, marker, agnhostFiles, []string{"ENTRYPOINT /agnhost", "CMD pause"}),
		"skiff.test/e2e-test-images/busybox:1.37.0-2":        with(bash, marker, busyboxNc, []string{"ENTRYPOINT ", "CMD sh"}),
		"skiff.test/e2e-test-images/nginx:1.27.0-2":          with(shell, marker, busyboxNc, []string{"usr/bin/e2etools 755", "usr/bin/serve -> e2etools", "usr/share/nginx/html/index.html 644"}, []string{"ENTRYPOINT ", "CMD /usr/bin/serve -dir /usr/share/nginx/html -listen :80"}),
		"skiff.test/e2e-test-images/nginx:1.28.0-2":          with(shell, marker, busyboxNc, []string{"usr/bin/e2etools 755", "usr/bin/serve -> e2etools", "usr/share/nginx/html/index.html 644"}, []string{"ENTRYPOINT ", "CMD /usr/bin/serve -dir /usr/share/nginx/html -listen :80"}),
		"skiff.test/e2e-test-images/kitten:1.8":              with(dash, marker, agnhostFiles, []string{"data.json 644", "kitten.jpg 644"}, []string{"ENTRYPOINT /agnhost", "CMD test-webserver"}),
		"skiff.test/e2e-test-images/nautilus:1.8":            with(dash, marker, agnhostFiles, []string{"data.json 644", "nautilus.jpg 644"}, []string{"ENTRYPOINT /agnhost", "CMD test-webserver"}),
		"skiff.test/e2e-test-images/glibc-dns-testing:2.1.1": with(dash, marker, dnsFiles, []string{"ENTRYPOINT ", "CMD sh"}),
		"skiff.test/e2e-test-images/sample-apiserver:1.29.2": with(marker, []string{"etc/group 644", "etc/passwd 644", "sample-apiserver 755", "tmp/.keep 644"}, []string{"ENTRYPOINT /sample-apiserver", "CMD "}),
		"skiff.test/e2e-test-images/nonewprivs:1.4":          with(shell, marker, busyboxNc, []string{"usr/local/bin/nnp 4755"}, []string{"ENTRYPOINT ", "CMD nnp"}),
		"skiff.test/etcd:3.7.0-0":                            with(marker, []string{"etc/group 644", "etc/passwd 644", "tmp/.keep 644", "usr/local/bin/etcd 755", "var/lib/etcd/.keep 644"}, []string{"ENTRYPOINT ", "CMD /usr/local/bin/etcd"}),
		"skiff.test/pause:3.10.2":                            with(marker, []string{"pause 755"}, []string{"ENTRYPOINT /pause", "CMD "}),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

func TestCatalogNamesAreDistinct(t *testing.T) {
	for _, v := range []string{"v1.37", "v1.34"} {
		entries, err := catalog(v)
		if err != nil {
			t.Fatal(err)
		}
		files, refs := map[string]bool{}, map[string]bool{}
		for _, e := range entries {
			ref := e.registry + "/" + e.name + ":" + e.tag
			if files[e.file()] || refs[ref] {
				t.Errorf("%s: %s appears twice", v, ref)
			}
			files[e.file()], refs[ref] = true, true
		}
	}
	if _, err := catalog("v1.0"); err == nil {
		t.Error("an unknown version has a catalog")
	}
}

func TestRepoListYAML(t *testing.T) {
	want := `# KUBE_TEST_REPO_LIST for upstream's e2e.test: every registry key maps to
# a local name; the images under it are built by test/conformance/images.
buildImageRegistry: skiff.test/build-image
cloudProviderGcpRegistry: skiff.test/cloud-provider-gcp
dockerLibraryRegistry: skiff.test/library
gcAuthenticatedRegistry: skiff.test/authenticated-image-pulling
gcEtcdRegistry: skiff.test
gcRegistry: skiff.test
invalidRegistry: invalid.skiff.test/invalid
privateRegistry: skiff.test/k8s-authenticated-test
promoterE2eRegistry: skiff.test/e2e-test-images
sigStorageRegistry: skiff.test/sig-storage
`
	if diff := cmp.Diff(want, string(repoListYAML("skiff.test"))); diff != "" {
		t.Errorf("repo-list.yaml (-want +got):\n%s", diff)
	}
}
