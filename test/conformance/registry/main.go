// Command registry serves the conformance suite's locally built images over
// the OCI distribution API, so that specs whose pods say
// imagePullPolicy: Always can pull them the way a cluster pulls from any
// registry. It loads every docker-archive tarball in -images, keeps the
// blobs under -dir, and answers on -addr until it is stopped; it prints
// "ready" once every image is in place.
//
// The nodes' containerd reach it through a hosts.toml for the images'
// registry name (run.sh writes one per node), so nothing resolves that name
// in DNS.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "address to listen on")
	images := flag.String("images", "", "folder of docker-archive tarballs to serve")
	dir := flag.String("dir", "", "folder for the blobs (default: in memory)")
	flag.Parse()
	if err := run(*addr, *images, *dir); err != nil {
		log.Fatalf("registry: %v", err)
	}
}

func run(addr, images, dir string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv, err := newServer(dir)
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(ln) }()
	n, err := load(ln.Addr().String(), images)
	if err != nil {
		return err
	}
	fmt.Printf("ready: %d images on %s\n", n, ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// newServer returns the registry's HTTP server, keeping blobs in dir or,
// when dir is empty, in memory.
func newServer(dir string) (*http.Server, error) {
	opts := []registry.Option{registry.Logger(log.New(os.Stderr, "registry: ", 0))}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		opts = append(opts, registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)))
	}
	return &http.Server{Handler: registry.New(opts...), ReadHeaderTimeout: 10 * time.Second}, nil
}

// load pushes every tag of every tarball in images to the registry at
// host, keeping each tag's repository path and dropping its registry name,
// and returns how many tags it pushed.
func load(host, images string) (int, error) {
	files, err := filepath.Glob(filepath.Join(images, "*.tar"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range files {
		m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(f) })
		if err != nil {
			return n, fmt.Errorf("%s: %w", f, err)
		}
		for _, desc := range m {
			for _, t := range desc.RepoTags {
				if err := push(host, f, t); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	if n == 0 {
		return 0, errors.New("no images in " + images)
	}
	return n, nil
}

// push copies the image tagged t in the tarball file to the registry at
// host under t's repository and tag, with the distribution API's monolithic
// blob uploads and a manifest PUT.
func push(host, file, t string) error {
	tag, err := name.NewTag(t)
	if err != nil {
		return fmt.Errorf("%s: tag %q: %w", file, t, err)
	}
	img, err := tarball.ImageFromPath(file, &tag)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	base := "http://" + host + "/v2/" + tag.RepositoryStr()
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		err = send(http.MethodPost, base+"/blobs/uploads/?digest="+d.String(), "application/octet-stream", rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("push %s layer %s: %w", t, d, err)
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := send(http.MethodPost, base+"/blobs/uploads/?digest="+cfgName.String(), "application/octet-stream", bytes.NewReader(cfg)); err != nil {
		return fmt.Errorf("push %s config: %w", t, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	if err := send(http.MethodPut, base+"/manifests/"+tag.TagStr(), string(mt), bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("push %s manifest: %w", t, err)
	}
	return nil
}

// send makes one request and wants a 2xx answer.
func send(method, url, contentType string, body io.Reader) error {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, msg)
	}
	return nil
}
