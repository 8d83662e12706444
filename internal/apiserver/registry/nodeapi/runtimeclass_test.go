package nodeapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	nodev1 "k8s.io/api/node/v1"
)

func TestRuntimeClass(t *testing.T) {
	s := Resources()[0].Strategy
	tests := []struct {
		name    string
		handler string
		want    []string
	}{
		{name: "valid", handler: "runc"},
		{name: "empty", handler: "", want: []string{`handler: Invalid value: "": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range s.Validate(&nodev1.RuntimeClass{Handler: tt.handler}) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	if errs := s.ValidateUpdate(&nodev1.RuntimeClass{Handler: "crun"}, &nodev1.RuntimeClass{Handler: "runc"}); len(errs) != 1 || errs[0].Field != "handler" {
		t.Errorf("handler change: %v", errs)
	}
	if diff := cmp.Diff([]interface{}{"runc", "<unknown>"}, s.TableRow(&nodev1.RuntimeClass{Handler: "runc"})); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}
