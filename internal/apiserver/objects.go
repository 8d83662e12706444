package apiserver

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/registry/apiextensions"
)

// fieldByName returns the addressable struct field name of obj (a pointer
// to a struct), or an invalid Value.
func fieldByName(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

// copyStatus sets obj's Status to old's: an update of the main resource
// does not change status.
func copyStatus(obj, old runtime.Object) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		if ou, ok := old.(*unstructured.Unstructured); ok {
			if st, found := ou.Object["status"]; found {
				u.Object["status"] = runtime.DeepCopyJSONValue(st)
			} else {
				delete(u.Object, "status")
			}
		}
		return
	}
	dst, src := fieldByName(obj, "Status"), fieldByName(old, "Status")
	if dst.IsValid() && src.IsValid() && dst.CanSet() {
		dst.Set(src)
	}
}

// specChanged reports whether anything but metadata and status differs,
// which is when upstream bumps metadata.generation.
func specChanged(obj, old runtime.Object) bool {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		ou, ok := old.(*unstructured.Unstructured)
		return !ok || apiextensions.ContentChanged(u.Object, ou.Object, true)
	}
	a, b := reflect.ValueOf(obj).Elem(), reflect.ValueOf(old).Elem()
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !equality.Semantic.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			return true
		}
	}
	return false
}
