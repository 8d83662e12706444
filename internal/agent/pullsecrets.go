package agent

import (
	"encoding/json"
	"net"
	"net/url"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// dockerAuth is one registry's entry of a docker config file.
type dockerAuth struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// dockerHub is the host that docker configs name Docker Hub by.
const dockerHub = "index.docker.io"

// pullAuths are the credentials of the pod's imagePullSecrets for image,
// most specific registry key first, as upstream's kubelet picks them: a
// key (host[:port][/path], any scheme and a /v1/ or /v2/ prefix of the
// path ignored) matches when its host matches the image's, label by label
// with globs, its port is the image's and its path is a prefix of the
// image's repository; a Docker Hub image with no matching key uses the
// index.docker.io entry. Secrets that are missing, of another type or
// malformed give nothing. Pure.
func pullAuths(pod *corev1.Pod, secrets map[string]*corev1.Secret, image string) []ImageAuth {
	creds := map[string][]dockerAuth{}
	for _, ref := range pod.Spec.ImagePullSecrets {
		s := secrets[ref.Name]
		if s == nil {
			continue
		}
		var cfg map[string]dockerAuth
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			var file struct {
				Auths map[string]dockerAuth `json:"auths"`
			}
			if json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &file) != nil {
				continue
			}
			cfg = file.Auths
		case corev1.SecretTypeDockercfg:
			if json.Unmarshal(s.Data[corev1.DockerConfigKey], &cfg) != nil {
				continue
			}
		}
		for server, auth := range cfg {
			if key, ok := registryKey(server); ok {
				creds[key] = append(creds[key], auth)
			}
		}
	}
	if len(creds) == 0 {
		return nil
	}
	keys := make([]string, 0, len(creds))
	for k := range creds {
		keys = append(keys, k)
	}
	// Reverse order puts a key before its prefixes: quay.io/team first.
	sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	var out []ImageAuth
	add := func(key string) {
		for _, c := range creds[key] {
			out = append(out, ImageAuth{Server: key, Username: c.Username, Password: c.Password, Auth: c.Auth})
		}
	}
	for _, k := range keys {
		if registryKeyMatches(k, image) {
			add(k)
		}
	}
	if len(out) == 0 && isDockerHubImage(image) {
		add(dockerHub)
	}
	return out
}

// registryKey is a docker config's server as a key: host[:port][/path].
func registryKey(server string) (string, bool) {
	if !strings.HasPrefix(server, "https://") && !strings.HasPrefix(server, "http://") {
		server = "https://" + server
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return "", false
	}
	p := u.Path
	if strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v2/") {
		p = p[3:]
	}
	if p == "" || p == "/" {
		return u.Host, true
	}
	return u.Host + p, true
}

// registryKeyMatches reports whether key matches image, as written.
func registryKeyMatches(key, image string) bool {
	k, err := url.Parse("https://" + key)
	if err != nil {
		return false
	}
	im, err := url.Parse("https://" + image)
	if err != nil {
		return false
	}
	kh, kp := splitHostPort(k.Host)
	ih, ip := splitHostPort(im.Host)
	if kp != ip || len(kh) != len(ih) {
		return false
	}
	for i := range kh {
		if ok, _ := path.Match(kh[i], ih[i]); !ok {
			return false
		}
	}
	return strings.HasPrefix(im.Path, k.Path)
}

func splitHostPort(hostport string) (labels []string, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	return strings.Split(host, "."), port
}

// isDockerHubImage reports whether image, as written, pulls from Docker
// Hub: it names no registry host, or docker.io's.
func isDockerHubImage(image string) bool {
	first, _, found := strings.Cut(image, "/")
	if first == "" {
		return false
	}
	if !found || first == "docker.io" || first == dockerHub {
		return true
	}
	return !strings.ContainsAny(first, ".:") && first != "localhost"
}
