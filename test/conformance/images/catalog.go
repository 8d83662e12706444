package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/big"
	"net"
	"sort"
	"strings"
	"time"

	"skiff/internal/images"
)

// Registry keys of the suite's KUBE_TEST_REPO_LIST file
// (test/utils/image/manifest.go RegistryList upstream).
const (
	promoterE2e   = "promoterE2eRegistry"
	buildImage    = "buildImageRegistry"
	invalid       = "invalidRegistry"
	gcEtcd        = "gcEtcdRegistry"
	gc            = "gcRegistry"
	sigStorage    = "sigStorageRegistry"
	private       = "privateRegistry"
	dockerLibrary = "dockerLibraryRegistry"
	cloudProvider = "cloudProviderGcpRegistry"
	// gcAuthenticated is v1.34's only; v1.37 ignores the key.
	gcAuthenticated = "gcAuthenticatedRegistry"
)

// repoList maps every registry key to a name under prefix. The private,
// authenticated and invalid registries get names that hold no image, as
// the specs that use them expect pulls from them to fail.
func repoList(prefix string) map[string]string {
	return map[string]string{
		promoterE2e:   prefix + "/e2e-test-images",
		buildImage:    prefix + "/build-image",
		invalid:       "invalid." + prefix + "/invalid",
		gcEtcd:        prefix,
		gc:            prefix,
		sigStorage:    prefix + "/sig-storage",
		private:       prefix + "/k8s-authenticated-test",
		dockerLibrary: prefix + "/library",
		cloudProvider: prefix + "/cloud-provider-gcp",
		// like the private registry, pulls from it are expected to fail
		gcAuthenticated: prefix + "/authenticated-image-pulling",
	}
}

// repoListYAML renders the repo list with its keys sorted.
func repoListYAML(prefix string) []byte {
	list := repoList(prefix)
	keys := make([]string, 0, len(list))
	for k := range list {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# KUBE_TEST_REPO_LIST for upstream's e2e.test: every registry key maps to\n# a local name; the images under it are built by test/conformance/images.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, list[k])
	}
	return []byte(b.String())
}

// kind says what an image is made of.
type kind int

const (
	agnhost kind = iota
	busybox
	webServer
	updateDemo // kitten and nautilus: agnhost with a data.json
	dnsTools
	sampleAPIServer
	etcd
	pause
	noNewPrivs
)

// entry is one image of a suite version: its registry key, name and tag,
// and what it is made of.
type entry struct {
	registry, name, tag string
	kind                kind
	// picture names the update demo's picture (kitten.jpg, nautilus.jpg).
	picture string
}

// file is the tarball name of the entry in the output folder.
func (e entry) file() string {
	return strings.ReplaceAll(e.name, "/", "-") + "-" + e.tag + ".tar"
}

// catalog lists the images each suite version's [Conformance] specs run,
// with the names and tags of upstream's test/utils/image/manifest.go.
func catalog(version string) ([]entry, error) {
	switch version {
	case "v1.37":
		return []entry{
			{promoterE2e, "agnhost", "2.66.1", agnhost, ""},
			{promoterE2e, "agnhost", "2.55", agnhost, ""}, // AgnhostPrev, the image rolling updates start from
			{promoterE2e, "busybox", "1.37.0-2", busybox, ""},
			{promoterE2e, "nginx", "1.27.0-2", webServer, ""},
			{promoterE2e, "nginx", "1.28.0-2", webServer, ""},
			{promoterE2e, "kitten", "1.8", updateDemo, "kitten.jpg"},
			{promoterE2e, "nautilus", "1.8", updateDemo, "nautilus.jpg"},
			{promoterE2e, "glibc-dns-testing", "2.1.1", dnsTools, ""},
			{promoterE2e, "sample-apiserver", "1.29.2", sampleAPIServer, ""},
			{promoterE2e, "nonewprivs", "1.4", noNewPrivs, ""},
			{gcEtcd, "etcd", "3.7.0-0", etcd, ""},
			{gc, "pause", "3.10.2", pause, ""},
		}, nil
	case "v1.34":
		return []entry{
			{promoterE2e, "agnhost", "2.56", agnhost, ""},
			{promoterE2e, "busybox", "1.37.0-1", busybox, ""},
			{promoterE2e, "httpd", "2.4.38-4", webServer, ""},
			{promoterE2e, "httpd", "2.4.39-4", webServer, ""},
			{promoterE2e, "nginx", "1.14-4", webServer, ""},
			{promoterE2e, "nginx", "1.15-4", webServer, ""},
			{promoterE2e, "kitten", "1.7", updateDemo, "kitten.jpg"},
			{promoterE2e, "nautilus", "1.7", updateDemo, "nautilus.jpg"},
			{promoterE2e, "jessie-dnsutils", "1.7", dnsTools, ""},
			{promoterE2e, "sample-apiserver", "1.29.2", sampleAPIServer, ""},
			{promoterE2e, "nonewprivs", "1.3", noNewPrivs, ""},
			{gcEtcd, "etcd", "3.6.4-0", etcd, ""},
			{gc, "pause", "3.10.1", pause, ""},
		}, nil
	}
	return nil, fmt.Errorf("unknown suite version %q (want v1.37 or v1.34)", version)
}

// Inputs are the programs the images are made of, and what the images
// differ by from one build to the next.
type Inputs struct {
	// Busybox is Debian's busybox-static; Applets are its applet names.
	Busybox []byte
	Applets []string
	// Tools is the e2etools multi-call binary (dig, getent, curl, nc,
	// serve, nnp).
	Tools []byte
	// Agnhost and SampleAPIServer are built from the suite's own module;
	// Etcd from cmd/etcd here; Pause is skiff-pause.
	Agnhost, SampleAPIServer, Etcd, Pause []byte
	// Cert and Key are the PEM files agnhost porter serves TLS with.
	Cert, Key []byte
	// Sh is the /bin/sh of the images that carry our nc (Debian's dash),
	// with the shared libraries it loads. busybox-static's ash runs its
	// own applets before anything on PATH, so `sh -c '... | nc -u ...'`
	// would get busybox's nc, which lacks -u, -v and -t.
	Sh     []byte
	ShLibs []images.File
	// Bash (Debian's, with its libraries) is the busybox image's shell
	// for environments whose variable names are no shell identifiers
	// (data-1, from a ConfigMap's keys): Debian's busybox-static shell
	// drops them before `sh -c env` prints them, where upstream's busybox
	// keeps them (see e2etools' sh).
	Bash     []byte
	BashLibs []images.File
}

// inputs names the programs an image kind is made of.
func (k kind) inputs() []string {
	switch k {
	case agnhost, updateDemo:
		return []string{"agnhost", "tools", "busybox", "sh"}
	case busybox:
		return []string{"busybox", "bash", "tools"}
	case dnsTools:
		return []string{"tools", "busybox", "sh"}
	case webServer, noNewPrivs:
		return []string{"tools", "busybox"}
	case sampleAPIServer:
		return []string{"sample-apiserver"}
	case etcd:
		return []string{"etcd"}
	case pause:
		return []string{"pause"}
	}
	return nil
}

// missing names the programs of an image kind that in lacks.
func (k kind) missing(in Inputs) []string {
	have := map[string][]byte{"agnhost": in.Agnhost, "tools": in.Tools, "busybox": in.Busybox,
		"sample-apiserver": in.SampleAPIServer, "etcd": in.Etcd, "pause": in.Pause, "sh": in.Sh, "bash": in.Bash}
	var out []string
	for _, n := range k.inputs() {
		if len(have[n]) == 0 {
			out = append(out, n)
		}
	}
	return out
}

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/:/bin/false\n"
	group = "root:x:0:\n" +
		"nobody:x:65534:\n"
	// The agnhost image defines a user and group that a supplemental
	// groups spec expects to find in the image: uid 1000 in gid 50000.
	agnhostPasswd = passwd + "user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n"
	agnhostGroup  = group + "user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n"
	nsswitch      = "hosts: files dns\n"
	// osRelease identifies the images. The image volume spec reads the
	// kitten image's os-release and looks for "Alpine Linux", the
	// distribution upstream's image is built on, so the description
	// names the image this one stands in for.
	osRelease = "NAME=\"skiff test image\"\nID=skiff-test\nPRETTY_NAME=\"skiff test image, built from source in place of upstream's Alpine Linux based one\"\n"
)

// spec builds the image of an entry named ref.
func (e entry) spec(ref string, in Inputs) images.Spec {
	var files []images.File
	add := func(path string, mode int64, data []byte) {
		files = append(files, images.File{Path: path, Mode: mode, Data: data})
	}
	link := func(path, target string) {
		files = append(files, images.File{Path: path, Link: target})
	}
	shell := func(skip map[string]bool) {
		add("bin/busybox", 0o755, in.Busybox)
		for _, a := range in.Applets {
			if a != "busybox" && !skip[a] {
				link("bin/"+a, "busybox")
			}
		}
		add("tmp/.keep", 0o644, nil)
		add("etc/nsswitch.conf", 0o644, []byte(nsswitch))
		add("etc/os-release", 0o644, []byte(osRelease))
	}
	users := func(p, g string) {
		add("etc/passwd", 0o644, []byte(p))
		add("etc/group", 0o644, []byte(g))
	}
	// posixShell makes /bin/sh a shell that finds commands on PATH.
	posixShell := func() {
		add("bin/sh", 0o755, in.Sh)
		files = append(files, in.ShLibs...)
	}
	// tools installs e2etools under /usr/bin with a link per tool; they
	// come before /bin in PATH, so nc is OpenBSD's flavour, not busybox's.
	tools := func(names ...string) {
		add("usr/bin/e2etools", 0o755, in.Tools)
		for _, n := range names {
			link("usr/bin/"+n, "e2etools")
		}
	}
	// Every image says what it is; this also keeps two tags of the same
	// programs (agnhost 2.66.1 and 2.55) distinct images.
	add("etc/skiff-test-image", 0o644, []byte(ref+"\n"))
	s := images.Spec{Ref: ref}
	switch e.kind {
	case agnhost, updateDemo:
		shell(map[string]bool{"nc": true, "sh": true})
		posixShell()
		// No bash here (busybox-static has no bash applet either): dash
		// stands in for the few specs that start /bin/bash with POSIX
		// scripts.
		link("bin/bash", "sh")
		users(agnhostPasswd, agnhostGroup)
		tools("dig", "getent", "curl", "nc")
		add("agnhost", 0o755, in.Agnhost)
		link("agnhost-2", "agnhost")
		add("uploads/.keep", 0o644, nil)
		add("localhost.crt", 0o644, in.Cert)
		add("localhost.key", 0o600, in.Key)
		s.Entrypoint, s.Cmd = []string{"/agnhost"}, []string{"pause"}
		if e.kind == updateDemo {
			add("data.json", 0o644, []byte(fmt.Sprintf("{\n  \"image\": %q\n}\n", e.picture)))
			add(e.picture, 0o644, picture(e.picture))
			s.Cmd = []string{"test-webserver"}
		}
	case busybox:
		// /bin/sh is e2etools' sh: busybox's shell, or bash when the
		// environment holds names busybox-static's shell would drop.
		shell(map[string]bool{"sh": true})
		add("bin/bash", 0o755, in.Bash)
		files = append(files, in.BashLibs...)
		add("usr/bin/e2etools", 0o755, in.Tools)
		link("bin/sh", "/usr/bin/e2etools")
		users(passwd, group)
		s.Cmd = []string{"sh"}
	case webServer:
		shell(nil)
		users(passwd, group)
		tools("serve")
		docroot := "usr/share/nginx/html"
		if e.name == "httpd" {
			docroot = "usr/local/apache2/htdocs"
		}
		add(docroot+"/index.html", 0o644, []byte(fmt.Sprintf("<html><body><h1>%s</h1><p>skiff's static web server, standing in for %s %s.</p></body></html>\n", e.name, e.name, e.tag)))
		s.Cmd = []string{"/usr/bin/serve", "-dir", "/" + docroot, "-listen", ":80"}
	case dnsTools:
		shell(map[string]bool{"nc": true, "sh": true})
		posixShell()
		users(passwd, group)
		tools("dig", "getent", "curl", "nc")
		s.Cmd = []string{"sh"}
	case noNewPrivs:
		shell(nil)
		users(passwd, group)
		// setuid root: run as another user it reports uid 0 unless
		// no_new_privs stops the escalation.
		add("usr/local/bin/nnp", 0o4755, in.Tools)
		s.Cmd = []string{"nnp"}
	case sampleAPIServer:
		add("sample-apiserver", 0o755, in.SampleAPIServer)
		add("tmp/.keep", 0o644, nil)
		users(passwd, group)
		s.Entrypoint = []string{"/sample-apiserver"}
	case etcd:
		add("usr/local/bin/etcd", 0o755, in.Etcd)
		add("tmp/.keep", 0o644, nil)
		add("var/lib/etcd/.keep", 0o644, nil)
		users(passwd, group)
		s.Cmd = []string{"/usr/local/bin/etcd"}
	case pause:
		p := images.Pause(ref, in.Pause)
		p.Files = append(p.Files, files...)
		return p
	}
	s.Files = files
	return s
}

// picture is a small JPEG of one colour for the update demo's data.json
// to point at; the specs read only data.json.
func picture(name string) []byte {
	c := color.RGBA{R: 0xe0, G: 0x90, B: 0x40, A: 0xff}
	if strings.HasPrefix(name, "nautilus") {
		c = color.RGBA{R: 0x30, G: 0x70, B: 0xc0, A: 0xff}
	}
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for x := 0; x < 16; x++ {
		for y := 0; y < 16; y++ {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, nil) // writing to memory does not fail
	return b.Bytes()
}

// selfSignedCert makes the TLS certificate agnhost porter serves: for
// localhost, 127.0.0.1 and ::1, valid for decades like upstream's.
func selfSignedCert(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"skiff test images"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(50, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
