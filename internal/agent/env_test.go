package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestResolveEnv(t *testing.T) {
	objs := podObjects{
		ConfigMaps: map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"A": "a", "B": "b", "bad=key": "x"}}},
		Secrets:    map[string]*corev1.Secret{"s": {Data: map[string][]byte{"PASS": []byte("hunter2")}}},
	}
	pod := testPod("p").containers("c").obj()
	pod.Labels = map[string]string{"app": "web"}
	pod.Annotations = map[string]string{"note": "hi"}
	pod.Spec.ServiceAccountName = "sa"
	in := envInput{Objects: objs, PodIPs: []string{"10.0.0.5", "fd00::5"}, HostIPs: []string{"192.168.1.2"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}}
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	cmKey := func(name, cm, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Key: key, Optional: ptr.To(optional)}}}
	}
	secKey := func(name, s, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: s}, Key: key, Optional: ptr.To(optional)}}}
	}
	res := func(name, r, div string) corev1.EnvVar {
		sel := &corev1.ResourceFieldSelector{Resource: r}
		if div != "" {
			sel.Divisor = resource.MustParse(div)
		}
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: sel}}
	}
	tests := []struct {
		name    string
		env     []corev1.EnvVar
		envFrom []corev1.EnvFromSource
		res     corev1.ResourceRequirements
		want    []corev1.EnvVar
		wantErr string
	}{
		{
			name: "values and expansion",
			env:  []corev1.EnvVar{{Name: "X", Value: "x"}, {Name: "Y", Value: "$(X)-$(NOPE)-$$(X)-$(X"}, {Name: "X", Value: "again"}},
			want: []corev1.EnvVar{{Name: "X", Value: "again"}, {Name: "Y", Value: "x-$(NOPE)-$(X)-$(X"}},
		},
		{
			name: "field refs",
			env: []corev1.EnvVar{field("N", "metadata.name"), field("NS", "metadata.namespace"), field("U", "metadata.uid"),
				field("L", "metadata.labels['app']"), field("AN", "metadata.annotations['note']"), field("NODE", "spec.nodeName"),
				field("SA", "spec.serviceAccountName"), field("IP", "status.podIP"), field("IPS", "status.podIPs"),
				field("H", "status.hostIP"), field("HS", "status.hostIPs")},
			want: []corev1.EnvVar{{Name: "N", Value: "p"}, {Name: "NS", Value: "default"}, {Name: "U", Value: "uid-p"},
				{Name: "L", Value: "web"}, {Name: "AN", Value: "hi"}, {Name: "NODE", Value: "n1"}, {Name: "SA", Value: "sa"},
				{Name: "IP", Value: "10.0.0.5"}, {Name: "IPS", Value: "10.0.0.5,fd00::5"}, {Name: "H", Value: "192.168.1.2"}, {Name: "HS", Value: "192.168.1.2"}},
		},
		{
			name: "resource refs, limits default to allocatable",
			env:  []corev1.EnvVar{res("CPU", "requests.cpu", "1m"), res("LCPU", "limits.cpu", ""), res("MEM", "limits.memory", "1Mi"), res("LMEM", "requests.memory", "")},
			res: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
			want: []corev1.EnvVar{{Name: "CPU", Value: "250"}, {Name: "LCPU", Value: "4"}, {Name: "MEM", Value: "8192"}, {Name: "LMEM", Value: "67108864"}},
		},
		{
			name: "config map and secret keys",
			env:  []corev1.EnvVar{cmKey("A", "cm", "A", false), secKey("P", "s", "PASS", false), cmKey("O", "gone", "A", true), secKey("K", "s", "nokey", true)},
			want: []corev1.EnvVar{{Name: "A", Value: "a"}, {Name: "P", Value: "hunter2"}},
		},
		{
			name: "envFrom with prefix, env wins",
			envFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}},
				{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr.To(true)}},
			},
			env:  []corev1.EnvVar{{Name: "A", Value: "$(B)$(S_PASS)"}},
			want: []corev1.EnvVar{{Name: "A", Value: "bhunter2"}, {Name: "B", Value: "b"}, {Name: "S_PASS", Value: "hunter2"}},
		},
		{name: "missing config map", env: []corev1.EnvVar{cmKey("A", "x", "A", false)}, wantErr: `configmap "x" not found`},
		{name: "missing secret", env: []corev1.EnvVar{secKey("A", "x", "A", false)}, wantErr: `secret "x" not found`},
		{name: "missing config map key", env: []corev1.EnvVar{cmKey("A", "cm", "Z", false)}, wantErr: "couldn't find key Z in ConfigMap default/cm"},
		{name: "missing secret key", env: []corev1.EnvVar{secKey("A", "s", "Z", false)}, wantErr: "couldn't find key Z in Secret default/s"},
		{
			name:    "missing envFrom secret",
			envFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "y"}}}},
			wantErr: `secret "y" not found`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pod.Spec.Containers[0]
			c.Env, c.EnvFrom, c.Resources = tt.env, tt.envFrom, tt.res
			got, err := resolveEnv(pod, &c, in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, ok := err.(*configError); !ok {
					t.Errorf("err is %T, want *configError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("env (-want +got):\n%s", d)
			}
		})
	}
}

func TestExpandCommand(t *testing.T) {
	env := []corev1.EnvVar{{Name: "GREETING", Value: "hello"}}
	tests := []struct {
		in, want []string
	}{
		{in: nil, want: nil},
		{in: []string{"echo", "$(GREETING)", "$(MISSING)", "$$(GREETING)", "a$b"}, want: []string{"echo", "hello", "$(MISSING)", "$(GREETING)", "a$b"}},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, expandCommand(tt.in, env)); d != "" {
			t.Errorf("expandCommand(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

func TestPodFieldValueMaps(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"b": "2", "a": "1"}}}
	got, err := podFieldValue(pod, "metadata.labels", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a=\"1\"\nb=\"2\""; got != want {
		t.Errorf("labels = %q, want %q", got, want)
	}
}
