package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestPullAuths(t *testing.T) {
	secrets := map[string]*corev1.Secret{
		"json": {Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{
			"https://quay.io/v2/": {"username": "q", "password": "qp"},
			"quay.io/team": {"auth": "dGVhbTpwdw=="},
			"*.registry.example": {"username": "wild", "password": "w"},
			"localhost:5000": {"username": "local", "password": "l"}
		}}`)}},
		"cfg": {Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{
			"https://index.docker.io/v1/": {"username": "hub", "password": "h"}
		}`)}},
		"opaque": {Type: corev1.SecretTypeOpaque, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"quay.io":{"username":"no"}}}`)}},
		"broken": {Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{`)}},
	}
	pod := testPod("p").obj()
	for _, n := range []string{"json", "cfg", "opaque", "broken", "missing"} {
		pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: n})
	}
	tests := []struct {
		image string
		want  []ImageAuth
	}{
		// The most specific key first.
		{"quay.io/team/app:1", []ImageAuth{{Server: "quay.io/team", Auth: "dGVhbTpwdw=="}, {Server: "quay.io", Username: "q", Password: "qp"}}},
		{"quay.io/other/app:1", []ImageAuth{{Server: "quay.io", Username: "q", Password: "qp"}}},
		{"eu.registry.example/app", []ImageAuth{{Server: "*.registry.example", Username: "wild", Password: "w"}}},
		// A glob matches one label.
		{"a.b.registry.example/app", nil},
		{"localhost:5000/app", []ImageAuth{{Server: "localhost:5000", Username: "local", Password: "l"}}},
		{"localhost:5001/app", nil},
		// Docker Hub images use the index.docker.io entry.
		{"busybox", []ImageAuth{{Server: "index.docker.io", Username: "hub", Password: "h"}}},
		{"docker.io/library/busybox:1", []ImageAuth{{Server: "index.docker.io", Username: "hub", Password: "h"}}},
		{"registry.k8s.io/pause:3", nil},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, pullAuths(pod, secrets, tt.image)); diff != "" {
				t.Errorf("auths (-want +got):\n%s", diff)
			}
		})
	}
	if got := pullAuths(testPod("none").obj(), secrets, "quay.io/team/app"); got != nil {
		t.Errorf("a pod without imagePullSecrets got %v", got)
	}
}
