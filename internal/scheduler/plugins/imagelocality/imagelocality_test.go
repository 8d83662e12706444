package imagelocality

import "testing"

func TestNormalize(t *testing.T) {
	tests := map[string]string{
		"nginx":                         "docker.io/library/nginx:latest",
		"nginx:1.25":                    "docker.io/library/nginx:1.25",
		"bitnami/redis":                 "docker.io/bitnami/redis:latest",
		"registry.k8s.io/pause:3.10":    "registry.k8s.io/pause:3.10",
		"localhost:5000/app":            "localhost:5000/app:latest",
		"quay.io/x/y@sha256:abc":        "quay.io/x/y@sha256:abc",
		"localhost/app:v1":              "localhost/app:v1",
		"my.registry:443/team/app:v2.1": "my.registry:443/team/app:v2.1",
	}
	for in, want := range tests {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
