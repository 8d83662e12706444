package apiserver

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/registry"
)

// registryPrefix is where every object lives in the store.
const registryPrefix = "/registry/"

// resource is one served resource with everything the handlers derive from
// its registry description.
type resource struct {
	*registry.Resource
	gvr schema.GroupVersionResource
	gvk schema.GroupVersionKind
	// listGVK is the kind of its list.
	listGVK schema.GroupVersionKind
	// storageGVK is the kind objects are stored as.
	storageGVK schema.GroupVersionKind
	// bucket is the key prefix of its objects, with a trailing slash.
	bucket string
	// custom is set for the versions of CustomResourceDefinitions: objects
	// are *unstructured.Unstructured, stored as JSON.
	custom *customVersion
}

func newResource(r *registry.Resource) *resource {
	res := &resource{Resource: r}
	res.gvr = r.GroupVersionResource()
	res.gvk = r.GroupVersionKind()
	res.listGVK = r.GroupVersion.WithKind(r.Kind + "List")
	res.storageGVK = res.gvk
	storageName := r.Resource
	storageGroup := r.GroupVersion.Group
	if !r.Storage.Empty() {
		res.storageGVK = r.Storage.GroupVersion().WithKind(kindOf(r.Storage, r))
		storageName = r.Storage.Resource
		storageGroup = r.Storage.Group
	}
	if strings.Contains(storageGroup, ".") && !builtinGroup(storageGroup) {
		res.bucket = registryPrefix + storageGroup + "/" + storageName + "/"
	} else {
		res.bucket = registryPrefix + storageName + "/"
	}
	return res
}

// kindOf guesses the storage kind: the same kind in another version.
func kindOf(_ schema.GroupVersionResource, r *registry.Resource) string { return r.Kind }

// builtinGroup reports whether group is one of Kubernetes' own (stored
// without the group in the key, as upstream does).
func builtinGroup(group string) bool {
	return group == "" || strings.HasSuffix(group, ".k8s.io") || !strings.Contains(group, ".")
}

// groupResource names the resource in error messages ("deployments.apps").
func (r *resource) groupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.GroupVersion.Group, Resource: r.Resource.Resource}
}

// key is the store key of one object.
func (r *resource) key(namespace, name string) string {
	if r.Namespaced {
		return r.bucket + namespace + "/" + name
	}
	return r.bucket + name
}

// keyPrefix is the store prefix of a namespace's objects ("" = all).
func (r *resource) keyPrefix(namespace string) string {
	if r.Namespaced && namespace != "" {
		return r.bucket + namespace + "/"
	}
	return r.bucket
}

// fromStorage converts a stored object to the served version, through
// the CRD's conversion webhook when it has one and the versions differ.
// The result may share memory with obj: treat both as read-only.
func (r *resource) fromStorage(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	conv, err := r.convertCustom(ctx, []runtime.Object{obj}, r.GroupVersion)
	if err != nil {
		return nil, err
	}
	return r.fromStorageNone(conv[0])
}

// fromStorageNone is fromStorage once any webhook has converted obj.
func (r *resource) fromStorageNone(obj runtime.Object) (runtime.Object, error) {
	if r.FromStorage == nil || r.Storage.Empty() {
		return obj, nil
	}
	out, err := r.FromStorage(obj)
	if err != nil {
		return nil, err
	}
	out.GetObjectKind().SetGroupVersionKind(r.gvk)
	return out, nil
}

// toStorage converts a served object to the storage version, through the
// CRD's conversion webhook when it has one and the versions differ.
func (r *resource) toStorage(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	conv, err := r.convertCustom(ctx, []runtime.Object{obj}, r.storageGVK.GroupVersion())
	if err != nil {
		return nil, err
	}
	obj = conv[0]
	if r.ToStorage == nil || r.Storage.Empty() {
		return obj, nil
	}
	out, err := r.ToStorage(obj)
	if err != nil {
		return nil, err
	}
	out.GetObjectKind().SetGroupVersionKind(r.storageGVK)
	return out, nil
}

// accessor returns obj's metadata; every served type has ObjectMeta.
func accessor(obj runtime.Object) metav1Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic("apiserver: object without metadata: " + err.Error())
	}
	return m
}
