package conversion

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func port(apiVersion string, meta, fields map[string]interface{}) *unstructured.Unstructured {
	o := map[string]interface{}{"apiVersion": apiVersion, "kind": "Port", "metadata": meta}
	for k, v := range fields {
		o[k] = v
	}
	return &unstructured.Unstructured{Object: o}
}

func TestCheckResponse(t *testing.T) {
	v2 := schema.GroupVersion{Group: "stable.example.com", Version: "v2"}
	inMeta := map[string]interface{}{"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
		"labels": map[string]interface{}{"keep": "me"}}
	in := []*unstructured.Unstructured{port("stable.example.com/v1", inMeta, map[string]interface{}{"hostPort": "h:1"})}
	raw := func(objs ...*unstructured.Unstructured) []runtime.RawExtension {
		var out []runtime.RawExtension
		for _, o := range objs {
			data, _ := o.MarshalJSON()
			out = append(out, runtime.RawExtension{Raw: data})
		}
		return out
	}
	review := func(uid, status, msg string, objs ...*unstructured.Unstructured) *apiextensionsv1.ConversionReview {
		return &apiextensionsv1.ConversionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "ConversionReview"},
			Response: &apiextensionsv1.ConversionResponse{UID: types.UID(uid), ConvertedObjects: raw(objs...),
				Result: metav1.Status{Status: status, Message: msg}},
		}
	}
	good := port("stable.example.com/v2", map[string]interface{}{"name": "a", "namespace": "ns", "uid": "u1",
		"resourceVersion": "99", "generation": int64(5), "labels": map[string]interface{}{"new": "label"}},
		map[string]interface{}{"host": "h", "port": "1"})
	tests := []struct {
		name    string
		review  *apiextensionsv1.ConversionReview
		want    []map[string]interface{}
		wantErr string
	}{
		{
			name:   "converted, metadata kept but labels and annotations",
			review: review("req-1", metav1.StatusSuccess, "", good),
			want: []map[string]interface{}{{"apiVersion": "stable.example.com/v2", "kind": "Port", "host": "h", "port": "1",
				"metadata": map[string]interface{}{"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
					"labels": map[string]interface{}{"new": "label"}}}},
		},
		{name: "other uid", review: review("req-2", metav1.StatusSuccess, "", good), wantErr: `expected response.uid="req-1", got "req-2"`},
		{name: "no response", review: &apiextensionsv1.ConversionReview{TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "ConversionReview"}}, wantErr: "no response provided"},
		{name: "failure", review: review("req-1", metav1.StatusFailure, "cannot convert", good), wantErr: "cannot convert"},
		{name: "too few objects", review: review("req-1", metav1.StatusSuccess, ""), wantErr: "expected 1 converted objects, got 0"},
		{name: "wrong version", review: review("req-1", metav1.StatusSuccess, "", port("stable.example.com/v1", inMeta, nil)), wantErr: `invalid apiVersion "stable.example.com/v1"`},
		{name: "renamed", review: review("req-1", metav1.StatusSuccess, "", port("stable.example.com/v2", map[string]interface{}{"name": "b", "namespace": "ns", "uid": "u1"}, nil)), wantErr: "must not change metadata.name"},
		{name: "bad label", review: review("req-1", metav1.StatusSuccess, "", port("stable.example.com/v2", map[string]interface{}{"name": "a", "namespace": "ns", "uid": "u1", "labels": map[string]interface{}{"k": "not a value!"}}, nil)), wantErr: "invalid label value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckResponse(tt.review, "apiextensions.k8s.io/v1", "req-1", in, v2)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var objs []map[string]interface{}
			for _, o := range got {
				objs = append(objs, o.Object)
			}
			if diff := cmp.Diff(tt.want, objs); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if in[0].GetAPIVersion() != "stable.example.com/v1" {
				t.Errorf("the input was changed: %v", in[0].Object)
			}
		})
	}
}
