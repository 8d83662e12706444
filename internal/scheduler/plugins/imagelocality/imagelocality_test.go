package imagelocality

import "testing"

func TestNormalize(t *testing.T) {
	tests := map[string]string{
		"nginx":                          "nginx:latest",
		"nginx:1.25":                     "nginx:1.25",
		"team/redis":                     "team/redis:latest",
		"registry.example/pause:3.10":    "registry.example/pause:3.10",
		"localhost:5000/app":             "localhost:5000/app:latest",
		"registry.example/x/y@sha256:ab": "registry.example/x/y@sha256:ab",
		"localhost/app:v1":               "localhost/app:v1",
		"my.registry:443/team/app:v2.1":  "my.registry:443/team/app:v2.1",
	}
	for in, want := range tests {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
