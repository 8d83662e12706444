package core

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func secretResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "secrets",
		SingularName: "secret",
		Kind:         "Secret",
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.Secret{} },
		NewList:      func() runtime.Object { return &corev1.SecretList{} },
		Strategy: registry.Strategy{
			Default:  func(obj runtime.Object) { DefaultSecret(obj.(*corev1.Secret)) },
			Validate: func(obj runtime.Object) field.ErrorList { return validateSecret(obj.(*corev1.Secret)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				n, o := obj.(*corev1.Secret), old.(*corev1.Secret)
				errs := immutable(n.Type, o.Type, field.NewPath("type"))
				return append(errs, validateImmutableData(n.Immutable, o.Immutable, []dataField{{"data", n.Data, o.Data}})...)
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Type", "string", corev1.Secret{}.SwaggerDoc()["type"], 0),
				registry.Column("Data", "string", corev1.Secret{}.SwaggerDoc()["data"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				s := obj.(*corev1.Secret)
				return []interface{}{string(s.Type), int64(len(s.Data)), registry.Age(s)}
			},
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
			},
		},
	}
}

// DefaultSecret sets type Opaque and folds stringData into data (stringData
// wins), as upstream's v1 conversion does: stringData is write-only and is
// never stored or returned.
func DefaultSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	dataPath := field.NewPath("data")
	size := 0
	for _, k := range sortedKeys(s.Data) {
		errs = append(errs, validateConfigMapKey(k, dataPath.Key(k))...)
		size += len(s.Data[k])
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(dataPath, "", maxDataSize))
	}
	required := func(keys ...string) {
		for _, k := range keys {
			if _, ok := s.Data[k]; !ok {
				errs = append(errs, field.Required(dataPath.Key(k), ""))
			}
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		required(corev1.DockerConfigKey)
		if b, ok := s.Data[corev1.DockerConfigKey]; ok && !validJSON(b) {
			errs = append(errs, field.Invalid(dataPath.Key(corev1.DockerConfigKey), "<secret contents redacted>", "invalid JSON"))
		}
	case corev1.SecretTypeDockerConfigJson:
		required(corev1.DockerConfigJsonKey)
		if b, ok := s.Data[corev1.DockerConfigJsonKey]; ok && !validJSON(b) {
			errs = append(errs, field.Invalid(dataPath.Key(corev1.DockerConfigJsonKey), "<secret contents redacted>", "invalid JSON"))
		}
	case corev1.SecretTypeBasicAuth:
		_, u := s.Data[corev1.BasicAuthUsernameKey]
		_, p := s.Data[corev1.BasicAuthPasswordKey]
		if !u && !p {
			required(corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		required(corev1.SSHAuthPrivateKey)
	case corev1.SecretTypeTLS:
		required(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return errs
}
