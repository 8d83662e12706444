package images

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Tags returns the image names an image tarball carries: a docker-archive's
// RepoTags, or an OCI layout's index annotations (the containerd image name
// or the reference name). A node pins these: images loaded from files
// cannot be pulled again once collected.
func Tags(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		switch h.Name {
		case "manifest.json", "./manifest.json":
			var m []struct{ RepoTags []string }
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				return nil, fmt.Errorf("read %s manifest: %w", path, err)
			}
			var out []string
			for _, e := range m {
				out = append(out, e.RepoTags...)
			}
			return out, nil
		case "index.json", "./index.json":
			var idx struct {
				Manifests []struct{ Annotations map[string]string }
			}
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				return nil, fmt.Errorf("read %s index: %w", path, err)
			}
			var out []string
			for _, m := range idx.Manifests {
				if n := m.Annotations["io.containerd.image.name"]; n != "" {
					out = append(out, n)
				} else if n := m.Annotations["org.opencontainers.image.ref.name"]; n != "" {
					out = append(out, n)
				}
			}
			return out, nil
		}
	}
}
