package apiserver

import (
	"bytes"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/registry"
)

// defaultColumns is what a resource without its own printer shows.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Age", Type: "string", Format: "", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."},
}

// toTable renders objs as a metav1.Table with the resource's columns.
// include is the includeObject parameter: None, Metadata (default) or Object.
func (s *Server) toTable(res *resource, objs []runtime.Object, include string, single bool) *metav1.Table {
	table := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}}
	cols := res.Strategy.TableColumns
	rowFn := res.Strategy.TableRow
	if rowFn == nil {
		cols = defaultColumns
		rowFn = func(obj runtime.Object) []interface{} { return []interface{}{registry.Age(obj)} }
	}
	if res.Strategy.TableIncludesName && res.Strategy.TableRow != nil {
		table.ColumnDefinitions = append([]metav1.TableColumnDefinition(nil), cols...)
	} else {
		table.ColumnDefinitions = append([]metav1.TableColumnDefinition{nameColumn}, cols...)
	}
	table.Rows = make([]metav1.TableRow, 0, len(objs))
	for _, obj := range objs {
		m, err := meta.Accessor(obj)
		if err != nil {
			continue
		}
		cells := rowFn(obj)
		if !res.Strategy.TableIncludesName || res.Strategy.TableRow == nil {
			cells = append([]interface{}{m.GetName()}, cells...)
		}
		row := metav1.TableRow{Cells: cells}
		switch include {
		case "None":
		case "Object":
			row.Object = s.embed(obj)
		default:
			row.Object = s.embed(partialMetadata(obj))
		}
		table.Rows = append(table.Rows, row)
	}
	if single && len(objs) == 1 {
		if m, err := meta.Accessor(objs[0]); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}
	return table
}

var nameColumn = metav1.TableColumnDefinition{
	Name: "Name", Type: "string", Format: "name",
	Description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
}

// embed encodes obj as JSON inside a RawExtension (its Object field alone
// would be written as null).
func (s *Server) embed(obj runtime.Object) runtime.RawExtension {
	data, err := s.codecs.encode(target{media: mediaJSON}, obj)
	if err != nil {
		return runtime.RawExtension{}
	}
	return runtime.RawExtension{Raw: bytes.TrimSpace(data)}
}
