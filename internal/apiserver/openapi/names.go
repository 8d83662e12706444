package openapi

import (
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// gvkIndex maps a definition name to every GroupVersionKind it is
// registered as, sorted by group, version, kind. It is what upstream's
// DefinitionNamer computes: meta types such as DeleteOptions or WatchEvent
// are registered in every group version and list them all.
type gvkIndex map[string][]schema.GroupVersionKind

func newGVKIndex(s *runtime.Scheme) gvkIndex {
	idx := gvkIndex{}
	if s == nil {
		return idx
	}
	for gvk, t := range s.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		name := friendlyName(util.GetCanonicalTypeName(reflect.New(t).Interface()))
		idx.add(name, gvk)
	}
	for _, list := range idx {
		sortGVKs(list)
	}
	return idx
}

func (idx gvkIndex) add(name string, gvk schema.GroupVersionKind) {
	for _, have := range idx[name] {
		if have == gvk {
			return
		}
	}
	idx[name] = append(idx[name], gvk)
}

func sortGVKs(list []schema.GroupVersionKind) {
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Kind < b.Kind
	})
}

// definitionName is the builders' GetDefinitionName: the REST friendly name
// and, for kinds, the x-kubernetes-group-version-kind extension.
func (idx gvkIndex) definitionName(name string) (string, spec.Extensions) {
	name = friendlyName(name)
	gvks, ok := idx[name]
	if !ok {
		return name, nil
	}
	list := make([]any, 0, len(gvks))
	for _, gvk := range gvks {
		list = append(list, map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
	}
	return name, spec.Extensions{extGVK: list}
}

// with returns idx plus the kinds of extra resources (custom resources,
// whose types the scheme does not know). idx itself is not changed.
func (idx gvkIndex) with(extra map[string][]schema.GroupVersionKind) gvkIndex {
	if len(extra) == 0 {
		return idx
	}
	out := make(gvkIndex, len(idx)+len(extra))
	for k, v := range idx {
		out[k] = v
	}
	for name, gvks := range extra {
		out[name] = append([]schema.GroupVersionKind(nil), out[name]...)
		for _, gvk := range gvks {
			out.add(name, gvk)
		}
		sortGVKs(out[name])
	}
	return out
}
