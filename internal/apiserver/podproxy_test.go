package apiserver

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilexec "k8s.io/client-go/util/exec"
)

func TestPodContainer(t *testing.T) {
	one := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	two := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "a"}, {Name: "b"}}}}
	annotated := two.DeepCopy()
	annotated.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "b"}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		in      string
		want    string
		wantErr string
	}{
		{name: "only container", pod: one, want: "a"},
		{name: "named", pod: two, in: "b", want: "b"},
		{name: "init container", pod: two, in: "init", want: "init"},
		{name: "default annotation", pod: annotated, want: "b"},
		{name: "ambiguous", pod: two, wantErr: "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [init]"},
		{name: "unknown", pod: one, in: "zz", wantErr: "container zz is not valid for pod p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := podContainer(tt.pod, tt.in)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if got != tt.want {
				t.Errorf("container = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStreamStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want metav1.Status
	}{
		{name: "success", want: metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Success"}},
		{name: "exit code", err: utilexec.CodeExitError{Err: errors.New("exit 7"), Code: 7}, want: metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure", Reason: "NonZeroExitCode",
			Message: "command terminated with non-zero exit code: exit 7",
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: "7"}}}}},
		{name: "other", err: errors.New("boom"), want: metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure", Reason: "InternalError", Message: "boom", Code: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got metav1.Status
			if err := json.Unmarshal(streamStatus(tt.err), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
