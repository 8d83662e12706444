package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"skiff/internal/images"
)

// TestLoadServesTarballs pushes a tarball built as the conformance images
// are and reads its manifest and layer back the way containerd pulls.
func TestLoadServesTarballs(t *testing.T) {
	dir := t.TempDir()
	spec := images.Spec{
		Ref:   "skiff.test/e2e-test-images/kitten:1.8",
		Files: []images.File{{Path: "data.json", Mode: 0o644, Data: []byte(`{"image": "kitten.jpg"}`)}},
		Cmd:   []string{"/agnhost"},
	}
	if err := images.Write(filepath.Join(dir, "kitten.tar"), spec); err != nil {
		t.Fatal(err)
	}
	reg, err := newServer(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	n, err := load(host, dir)
	if err != nil || n != 1 {
		t.Fatalf("load: %d images, %v", n, err)
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/e2e-test-images/kitten/manifests/1.8", nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("manifest: %s", resp.Status)
	}
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("manifest has %d layers, want 1", len(m.Layers))
	}
	for _, d := range []string{m.Config.Digest, m.Layers[0].Digest} {
		r, err := http.Get(srv.URL + "/v2/e2e-test-images/kitten/blobs/" + d)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("blob %s: %s", d, r.Status)
		}
	}

	if _, err := load(host, t.TempDir()); err == nil {
		t.Error("load of an empty folder succeeded")
	}
}
