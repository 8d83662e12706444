package fieldmanager

import (
	"errors"
	"reflect"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// errUnsupported stops createdFields on anything it does not handle the
// way structured-merge-diff's comparison does; the caller then compares.
var errUnsupported = errors.New("created fields: not handled, compare instead")

// createdFields is what m.empty.Compare(obj) reports as Modified or Added
// for a built-in object obj (a pointer to its Go type): every node of obj
// that the empty object of the kind lacks, and every leaf where the two
// differ. It walks the Go value with reflection, reading fields the way
// the comparison's reflection does (the same cache of JSON names, omitted
// empty fields and custom marshalers), but without building a comparable
// value for both sides at every node, which is most of the comparison's
// cost. It returns errUnsupported for what it does not mirror: types the
// schema deduces from the value, values of the wrong kind for the schema,
// and list items whose keys cannot be read.
func (m *Manager) createdFields(obj any) (*fieldpath.Set, error) {
	rv := reflect.ValueOf(obj)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, errUnsupported
	}
	w := createWalker{schema: m.empty.Schema()}
	n, err := w.node(rv, value.TypeReflectEntryOf(rv.Type()))
	if err != nil {
		return nil, err
	}
	root := &setFrame{set: fieldpath.NewSet()}
	if err := w.walk(m.empty.TypeRef(), m.emptyValue, true, n, root); err != nil {
		return nil, err
	}
	return root.set, nil
}

type createWalker struct {
	schema *schema.Schema
}

// setFrame is a node's place in the set being built: the set of the
// paths below it, made when the first of them is inserted, so that a node
// with nothing below it leaves no empty set behind.
type setFrame struct {
	parent *setFrame
	pe     fieldpath.PathElement // the node's element in its parent
	set    *fieldpath.Set
}

func (f *setFrame) children() *fieldpath.Set {
	if f.set == nil {
		f.set = f.parent.children().Children.Descend(f.pe)
	}
	return f.set
}

// insert adds the node's own path.
func (f *setFrame) insert() { f.parent.children().Members.Insert(f.pe) }

// rnode is one value of the object, as the comparison's reflection sees
// it: dereferenced, and converted to its unstructured form if its type
// marshals itself.
type rnode struct {
	v    reflect.Value
	kind nodeKind
}

type nodeKind int

const (
	kindNull nodeKind = iota
	kindStruct
	kindMap
	kindList
	kindInt
	kindFloat
	kindString
	kindBytes
	kindBool
)

func (k nodeKind) scalar() bool { return k >= kindInt }

// node reads v (of the type e describes) as the comparison's reflection
// would.
func (w *createWalker) node(v reflect.Value, e *value.TypeReflectCacheEntry) (rnode, error) {
	if e.CanConvertToUnstructured() {
		u, err := e.ToUnstructured(v)
		if err != nil {
			return rnode{}, errUnsupported
		}
		if u == nil {
			return rnode{kind: kindNull}, nil
		}
		v = reflect.ValueOf(u)
	}
	if k := v.Kind(); (k == reflect.Interface || k == reflect.Pointer) && !v.IsNil() {
		v = v.Elem()
	}
	n := rnode{v: v}
	switch v.Kind() {
	case reflect.Map:
		n.kind = kindMap
		if v.IsNil() {
			n.kind = kindNull
		}
	case reflect.Struct:
		n.kind = kindStruct
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Int16, reflect.Int8,
		reflect.Uint, reflect.Uint32, reflect.Uint16, reflect.Uint8:
		n.kind = kindInt
	case reflect.Float64, reflect.Float32:
		n.kind = kindFloat
	case reflect.String:
		n.kind = kindString
	case reflect.Bool:
		n.kind = kindBool
	case reflect.Slice:
		switch {
		case v.IsNil():
			n.kind = kindNull
		case v.Type().Elem().Kind() == reflect.Uint8:
			n.kind = kindBytes
		default:
			n.kind = kindList
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return rnode{}, errUnsupported
		}
		n.kind = kindNull
	default:
		return rnode{}, errUnsupported
	}
	return n, nil
}

// empty reports whether a map or struct node has no entries.
func (n rnode) empty() bool {
	switch n.kind {
	case kindNull:
		return true
	case kindMap:
		return n.v.Len() == 0
	case kindStruct:
		for _, f := range value.TypeReflectEntryOf(n.v.Type()).OrderedFields() {
			if !f.CanOmit(f.GetFrom(n.v)) {
				return false
			}
		}
		return true
	case kindList:
		return n.v.Len() == 0
	}
	return false
}

// walk visits n, of type tr, at f, whose counterpart in the empty object
// is lhs (hasLHS false if the empty object has nothing there).
func (w *createWalker) walk(tr schema.TypeRef, lhs any, hasLHS bool, n rnode, f *setFrame) error {
	a, ok := w.schema.Resolve(tr)
	if !ok {
		return errUnsupported
	}
	parts := 0
	for _, p := range []bool{a.Scalar != nil, a.List != nil, a.Map != nil} {
		if p {
			parts++
		}
	}
	if parts != 1 {
		return errUnsupported // a type deduced from the value
	}
	leaf := false
	switch {
	case a.Scalar != nil:
		if !scalarFits(*a.Scalar, n.kind) {
			return errUnsupported
		}
		leaf = true
	case a.Map != nil:
		if n.kind != kindNull && n.kind != kindMap && n.kind != kindStruct {
			return errUnsupported
		}
		lm, lok := lhs.(map[string]any)
		if hasLHS && lhs != nil && !lok {
			return errUnsupported
		}
		if a.Map.ElementRelationship == schema.Atomic || (len(lm) == 0 && n.empty()) {
			leaf = true
			break
		}
		if n.kind != kindNull {
			if err := w.mapItems(a.Map, lm, n, f); err != nil {
				return err
			}
		}
	case a.List != nil:
		if n.kind != kindNull && n.kind != kindList {
			return errUnsupported
		}
		ll, lok := lhs.([]any)
		if hasLHS && lhs != nil && !lok {
			return errUnsupported
		}
		if len(ll) > 0 {
			return errUnsupported // no empty object has list items
		}
		if a.List.ElementRelationship == schema.Atomic || n.empty() {
			leaf = true
			break
		}
		if err := w.listItems(a.List, n, f); err != nil {
			return err
		}
	}
	switch {
	case f.parent == nil:
		// The root is not a field.
	case !hasLHS:
		f.insert()
	case leaf:
		eq, err := w.equal(lhs, n)
		if err != nil {
			return err
		}
		if !eq {
			f.insert()
		}
	}
	return nil
}

func scalarFits(t schema.Scalar, k nodeKind) bool {
	switch t {
	case schema.Numeric:
		return k == kindNull || k == kindInt || k == kindFloat
	case schema.String:
		return k == kindNull || k == kindString || k == kindBytes
	case schema.Boolean:
		return k == kindNull || k == kindBool
	case schema.Untyped:
		return k == kindNull || k.scalar()
	}
	return false
}

// equal compares a leaf of the object with the empty object's, as the
// comparison does.
func (w *createWalker) equal(lhs any, n rnode) (bool, error) {
	if lhs == nil {
		return n.kind == kindNull, nil
	}
	if eq, ok := scalarEqual(lhs, n); ok {
		return eq, nil
	}
	var rv value.Value
	switch {
	case n.kind == kindNull:
		rv = value.NewValueInterface(nil)
	default:
		// The comparison's reflection wants a pointer: a map's element
		// has no address, so it is copied.
		v := n.v
		if !v.CanAddr() {
			c := reflect.New(v.Type()).Elem()
			c.Set(v)
			v = c
		}
		var err error
		if rv, err = value.NewValueReflect(v.Addr().Interface()); err != nil {
			return false, errUnsupported
		}
	}
	return value.Equals(value.NewValueInterface(lhs), rv), nil
}

func (w *createWalker) mapItems(t *schema.Map, lhs map[string]any, n rnode, f *setFrame) error {
	if n.kind == kindStruct {
		for _, fe := range value.TypeReflectEntryOf(n.v.Type()).OrderedFields() {
			fv := fe.GetFrom(n.v)
			if fe.CanOmit(fv) {
				continue
			}
			if err := w.mapItem(t, lhs, &fe.JsonName, fv, fe.TypeEntry, f); err != nil {
				return err
			}
		}
		return nil
	}
	if n.v.Type().Key().Kind() != reflect.String {
		return errUnsupported
	}
	e := value.TypeReflectEntryOf(n.v.Type().Elem())
	it := n.v.MapRange()
	for it.Next() {
		name := it.Key().String()
		if err := w.mapItem(t, lhs, &name, it.Value(), e, f); err != nil {
			return err
		}
	}
	return nil
}

func (w *createWalker) mapItem(t *schema.Map, lhs map[string]any, name *string, v reflect.Value, e *value.TypeReflectCacheEntry, f *setFrame) error {
	c, err := w.node(v, e)
	if err != nil {
		return err
	}
	tr := t.ElementType
	if sf, ok := t.FindField(*name); ok {
		tr = sf.Type
	}
	l, hasL := lhs[*name]
	return w.walk(tr, l, hasL, c, &setFrame{parent: f, pe: fieldpath.PathElement{FieldName: name}})
}

func (w *createWalker) listItems(t *schema.List, n rnode, f *setFrame) error {
	if t.ElementRelationship != schema.Associative {
		return errUnsupported
	}
	e := value.TypeReflectEntryOf(n.v.Type().Elem())
	count := n.v.Len()
	items := make([]rnode, count)
	pes := make([]fieldpath.PathElement, count)
	seen := fieldpath.MakePathElementMap(count)
	for i := range count {
		c, err := w.node(n.v.Index(i), e)
		if err != nil {
			return err
		}
		pe, err := w.itemElement(t, c)
		if err != nil {
			return err
		}
		items[i], pes[i] = c, pe
		if v, ok := seen.Get(pe); ok {
			seen.Insert(pe, v.(int)+1)
		} else {
			seen.Insert(pe, 1)
		}
	}
	for i, pe := range pes {
		times, _ := seen.Get(pe)
		switch times.(int) {
		case 0:
			continue // a repeated key, already recorded
		case 1:
			if err := w.walk(t.ElementType, nil, false, items[i], &setFrame{parent: f, pe: pe}); err != nil {
				return err
			}
		default:
			// Items that repeat a key are recorded as the key alone.
			f.children().Members.Insert(pe)
		}
		seen.Insert(pe, 0)
	}
	return nil
}

// itemElement is the path element of a list item: its key fields, or its
// value in a set.
func (w *createWalker) itemElement(t *schema.List, c rnode) (fieldpath.PathElement, error) {
	if len(t.Keys) == 0 {
		if !c.kind.scalar() {
			return fieldpath.PathElement{}, errUnsupported
		}
		v, err := unstructuredScalar(c)
		if err != nil {
			return fieldpath.PathElement{}, err
		}
		return fieldpath.PathElement{Value: &v}, nil
	}
	if c.kind != kindStruct {
		return fieldpath.PathElement{}, errUnsupported
	}
	elem, ok := w.schema.Resolve(t.ElementType)
	if !ok || elem.Map == nil {
		return fieldpath.PathElement{}, errUnsupported
	}
	fields := value.TypeReflectEntryOf(c.v.Type()).Fields()
	keys := make(value.FieldList, 0, len(t.Keys))
	for _, name := range t.Keys {
		if f, ok := fields[name]; ok {
			if fv := f.GetFrom(c.v); !f.CanOmit(fv) {
				kn, err := w.node(fv, f.TypeEntry)
				if err != nil || !kn.kind.scalar() {
					return fieldpath.PathElement{}, errUnsupported
				}
				v, err := unstructuredScalar(kn)
				if err != nil {
					return fieldpath.PathElement{}, err
				}
				keys = append(keys, value.Field{Name: name, Value: v})
				continue
			}
		}
		if sf, _ := elem.Map.FindField(name); sf.Default != nil {
			keys = append(keys, value.Field{Name: name, Value: value.NewValueInterface(sf.Default)})
		}
	}
	if len(keys) == 0 {
		return fieldpath.PathElement{}, errUnsupported
	}
	keys.Sort()
	return fieldpath.PathElement{Key: &keys}, nil
}

// unstructuredScalar is a scalar node as a value.
func unstructuredScalar(n rnode) (value.Value, error) {
	switch n.kind {
	case kindInt:
		if n.v.CanInt() {
			return value.NewValueInterface(n.v.Int()), nil
		}
		return value.NewValueInterface(int64(n.v.Uint())), nil
	case kindFloat:
		return value.NewValueInterface(n.v.Float()), nil
	case kindString:
		return value.NewValueInterface(n.v.String()), nil
	case kindBool:
		return value.NewValueInterface(n.v.Bool()), nil
	}
	return nil, errUnsupported
}

// scalarEqual compares a scalar of the empty object with a scalar node by
// the comparison's rules (numbers as floats if either is one); ok is false
// if either is not a plain scalar.
func scalarEqual(lhs any, n rnode) (eq, ok bool) {
	switch l := lhs.(type) {
	case string:
		if n.kind != kindString {
			return false, n.kind.scalar() && n.kind != kindBytes
		}
		return l == n.v.String(), true
	case bool:
		if n.kind != kindBool {
			return false, n.kind.scalar() && n.kind != kindBytes
		}
		return l == n.v.Bool(), true
	case int64:
		switch n.kind {
		case kindInt:
			if n.v.CanInt() {
				return l == n.v.Int(), true
			}
			return l == int64(n.v.Uint()), true
		case kindFloat:
			return float64(l) == n.v.Float(), true
		}
		return false, n.kind.scalar() && n.kind != kindBytes
	case float64:
		switch n.kind {
		case kindInt:
			if n.v.CanInt() {
				return l == float64(n.v.Int()), true
			}
			return l == float64(n.v.Uint()), true
		case kindFloat:
			return l == n.v.Float(), true
		}
		return false, n.kind.scalar() && n.kind != kindBytes
	}
	return false, false
}
