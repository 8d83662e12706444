package apiregistration

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

func TestValidate(t *testing.T) {
	valid := func() *apiregistrationv1.APIService {
		return &apiregistrationv1.APIService{
			ObjectMeta: metav1.ObjectMeta{Name: "v1beta1.metrics.example.com"},
			Spec: apiregistrationv1.APIServiceSpec{Group: "metrics.example.com", Version: "v1beta1", GroupPriorityMinimum: 100, VersionPriority: 10,
				Service: &apiregistrationv1.ServiceReference{Namespace: "kube-system", Name: "metrics"}, InsecureSkipTLSVerify: true},
		}
	}
	tests := []struct {
		name   string
		change func(*apiregistrationv1.APIService)
		want   []string
	}{
		{name: "valid", change: func(*apiregistrationv1.APIService) {}},
		{name: "local", change: func(a *apiregistrationv1.APIService) { a.Spec.Service, a.Spec.InsecureSkipTLSVerify = nil, false }},
		{name: "name unlike version", change: func(a *apiregistrationv1.APIService) { a.Name = "v1.metrics.example.com" }, want: []string{"metadata.name"}},
		{name: "name without group", change: func(a *apiregistrationv1.APIService) { a.Name = "v1beta1" }, want: []string{"metadata.name"}},
		{name: "priority", change: func(a *apiregistrationv1.APIService) { a.Spec.GroupPriorityMinimum = 0 }, want: []string{"spec.groupPriorityMinimum"}},
		{name: "both trust settings", change: func(a *apiregistrationv1.APIService) { a.Spec.CABundle = []byte("x") }, want: []string{"spec.insecureSkipTLSVerify"}},
		{name: "service without name", change: func(a *apiregistrationv1.APIService) { a.Spec.Service.Name = "" }, want: []string{"spec.service.name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := valid()
			tt.change(a)
			errs := Validate(a)
			if len(errs) != len(tt.want) {
				t.Fatalf("errors %v, want fields %v", errs, tt.want)
			}
			for i, e := range errs {
				if e.Field != tt.want[i] {
					t.Errorf("error %d on %s, want %s", i, e.Field, tt.want[i])
				}
			}
		})
	}
}
