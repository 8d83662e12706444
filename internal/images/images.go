package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one file of an image layer.
type File struct {
	// Path inside the image, without a leading slash.
	Path string
	// Mode is the file mode (0755 for executables).
	Mode int64
	// Data is the content; Link, when set, makes a symlink to it instead.
	Data []byte
	Link string
}

// Spec describes a single-layer image.
type Spec struct {
	// Ref names the image, e.g. "localhost/skiff/pause:1".
	Ref        string
	Files      []File
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
}

// Write builds spec and writes it to path as a docker-archive tarball.
func Write(path string, spec Spec) error {
	ref, err := name.ParseReference(spec.Ref)
	if err != nil {
		return fmt.Errorf("image ref %q: %w", spec.Ref, err)
	}
	layerTar, err := tarFiles(spec.Files)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = goarch(), "linux"
	cfg.Config = v1.Config{Entrypoint: spec.Entrypoint, Cmd: spec.Cmd, Env: spec.Env, WorkingDir: spec.WorkingDir}
	if len(cfg.Config.Env) == 0 {
		cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// tarFiles writes files (and the directories they need) as a tar stream.
func tarFiles(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, f := range sorted {
		for d := dirOf(f.Path); d != ""; d = dirOf(d) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777 // anyone may write there, whatever runAsUser
		}
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: mode}); err != nil {
			return nil, err
		}
	}
	for _, f := range sorted {
		h := &tar.Header{Name: f.Path, Mode: f.Mode, Size: int64(len(f.Data)), Typeflag: tar.TypeReg}
		if f.Link != "" {
			h = &tar.Header{Name: f.Path, Linkname: f.Link, Typeflag: tar.TypeSymlink, Mode: 0o777}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if f.Link == "" {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return ""
}

// Pause is the sandbox image: the static skiff-pause binary as /pause.
func Pause(ref string, pauseBinary []byte) Spec {
	return Spec{Ref: ref, Files: []File{{Path: "pause", Mode: 0o755, Data: pauseBinary}}, Entrypoint: []string{"/pause"}}
}

// BusyboxBase are the applets every Busybox image links: what `kubectl
// cp` runs in a container (tar, test, tail) and the everyday tools of a
// debugging shell.
func BusyboxBase() []string {
	return []string{"sh", "tar", "test", "[", "tail", "head", "ls", "cat", "echo", "mkdir", "rm", "touch", "id", "dd", "sleep", "ps", "grep"}
}

// Busybox is a test image: busybox-static at /bin/busybox with a link for
// every applet named (sh, httpd, wget, sleep, ...) and for BusyboxBase.
func Busybox(ref string, busybox []byte, applets []string) Spec {
	files := []File{{Path: "bin/busybox", Mode: 0o755, Data: busybox}}
	seen := map[string]bool{"busybox": true}
	for _, a := range append(BusyboxBase(), applets...) {
		if !seen[a] {
			seen[a] = true
			files = append(files, File{Path: "bin/" + a, Link: "busybox"})
		}
	}
	files = append(files, File{Path: "tmp/.keep", Mode: 0o644}, File{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		File{Path: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnobody:x:65534:\n")})
	return Spec{Ref: ref, Files: files, Cmd: []string{"sh"}}
}
