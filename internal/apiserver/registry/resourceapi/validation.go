package resourceapi

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func required(value string, fldPath *field.Path, check func(string, *field.Path) field.ErrorList) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return check(value, fldPath)
}

// validatePoolName: one or more DNS subdomains separated by slashes.
func validatePoolName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	if len(name) > resourcev1.PoolNameMaxLength {
		errs = append(errs, field.TooLong(fldPath, "", resourcev1.PoolNameMaxLength))
	}
	for _, part := range strings.Split(name, "/") {
		errs = append(errs, registry.ValidateDNSSubdomain(part, fldPath)...)
	}
	return errs
}

// celEnv checks device selectors: `device` (its driver, attributes and
// capacity) is only known when the scheduler evaluates them.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(cel.Variable("device", cel.DynType), cel.OptionalTypes(), ext.Strings(), ext.Sets(), ext.Lists())
})

func validateCELSelector(expr string, fldPath *field.Path) field.ErrorList {
	if expr == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if len(expr) > resourcev1.CELSelectorExpressionMaxLength {
		return field.ErrorList{field.TooLong(fldPath, "", resourcev1.CELSelectorExpressionMaxLength)}
	}
	env, err := celEnv()
	if err != nil {
		return field.ErrorList{field.InternalError(fldPath, err)}
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return field.ErrorList{field.Invalid(fldPath, expr, "compilation failed: "+iss.Err().Error())}
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return field.ErrorList{field.Invalid(fldPath, expr, fmt.Sprintf("must evaluate to bool or the unknown type, not %s", t))}
	}
	return nil
}

func validateSelectors(selectors []resourcev1.DeviceSelector, stored bool, fldPath *field.Path) field.ErrorList {
	if len(selectors) > resourcev1.DeviceSelectorsMaxSize {
		return field.ErrorList{field.TooMany(fldPath, len(selectors), resourcev1.DeviceSelectorsMaxSize)}
	}
	var errs field.ErrorList
	for i, s := range selectors {
		p := fldPath.Index(i)
		switch {
		case s.CEL == nil:
			errs = append(errs, field.Required(p.Child("cel"), ""))
		case !stored:
			// A stored expression was valid when stored.
			errs = append(errs, validateCELSelector(s.CEL.Expression, p.Child("cel", "expression"))...)
		}
	}
	return errs
}

func validateDeviceConfiguration(c resourcev1.DeviceConfiguration, fldPath *field.Path) field.ErrorList {
	if c.Opaque == nil {
		return field.ErrorList{field.Required(fldPath.Child("opaque"), "")}
	}
	p := fldPath.Child("opaque")
	errs := required(c.Opaque.Driver, p.Child("driver"), registry.ValidateDNSSubdomain)
	if len(c.Opaque.Parameters.Raw) == 0 && c.Opaque.Parameters.Object == nil {
		errs = append(errs, field.Required(p.Child("parameters"), ""))
	}
	return errs
}

func validateDeviceClassSpec(spec, old *resourcev1.DeviceClassSpec, fldPath *field.Path) field.ErrorList {
	// Selectors exactly as before count as stored: they compiled then.
	stored := old != nil && semanticEqual(spec.Selectors, old.Selectors)
	errs := validateSelectors(spec.Selectors, stored, fldPath.Child("selectors"))
	if len(spec.Config) > resourcev1.DeviceConfigMaxSize {
		errs = append(errs, field.TooMany(fldPath.Child("config"), len(spec.Config), resourcev1.DeviceConfigMaxSize))
	} else {
		for i, c := range spec.Config {
			errs = append(errs, validateDeviceConfiguration(c.DeviceConfiguration, fldPath.Child("config").Index(i))...)
		}
	}
	return errs
}

func validateClaimSpec(spec *resourcev1.ResourceClaimSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	d, dp := &spec.Devices, fldPath.Child("devices")
	names := sets.New[string]()
	if len(d.Requests) > resourcev1.DeviceRequestsMaxSize {
		return field.ErrorList{field.TooMany(dp.Child("requests"), len(d.Requests), resourcev1.DeviceRequestsMaxSize)}
	}
	for i, r := range d.Requests {
		p := dp.Child("requests").Index(i)
		errs = append(errs, required(r.Name, p.Child("name"), registry.ValidateDNSLabel)...)
		if names.Has(r.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), r.Name))
		}
		names.Insert(r.Name)
		switch {
		case r.Exactly == nil && len(r.FirstAvailable) == 0:
			errs = append(errs, field.Required(p, "exactly one of `exactly` or `firstAvailable` is required"))
		case r.Exactly != nil && len(r.FirstAvailable) > 0:
			errs = append(errs, field.Invalid(p, nil, "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set"))
		case r.Exactly != nil:
			e, ep := r.Exactly, p.Child("exactly")
			errs = append(errs, validateRequest(e.DeviceClassName, e.Selectors, e.AllocationMode, e.Count, e.Tolerations, ep)...)
		default:
			subNames := sets.New[string]()
			for j, s := range r.FirstAvailable {
				sp := p.Child("firstAvailable").Index(j)
				errs = append(errs, required(s.Name, sp.Child("name"), registry.ValidateDNSLabel)...)
				if subNames.Has(s.Name) {
					errs = append(errs, field.Duplicate(sp.Child("name"), s.Name))
				}
				subNames.Insert(s.Name)
				names.Insert(r.Name + "/" + s.Name)
				errs = append(errs, validateRequest(s.DeviceClassName, s.Selectors, s.AllocationMode, s.Count, s.Tolerations, sp)...)
			}
		}
	}
	for i, c := range d.Constraints {
		p := dp.Child("constraints").Index(i)
		for j, n := range c.Requests {
			errs = append(errs, validateRequestRef(n, names, p.Child("requests").Index(j))...)
		}
		switch {
		case c.MatchAttribute == nil && c.DistinctAttribute == nil:
			errs = append(errs, field.Required(p.Child("matchAttribute"), ""))
		case c.MatchAttribute != nil && c.DistinctAttribute != nil:
			errs = append(errs, field.Required(p, `exactly one of "matchAttribute" or "distinctAttribute" is required, but multiple fields are set`))
		}
	}
	for i, c := range d.Config {
		p := dp.Child("config").Index(i)
		for j, n := range c.Requests {
			errs = append(errs, validateRequestRef(n, names, p.Child("requests").Index(j))...)
		}
		errs = append(errs, validateDeviceConfiguration(c.DeviceConfiguration, p)...)
	}
	return errs
}

func validateRequest(class string, selectors []resourcev1.DeviceSelector, mode resourcev1.DeviceAllocationMode, count int64, tolerations []resourcev1.DeviceToleration, fldPath *field.Path) field.ErrorList {
	errs := required(class, fldPath.Child("deviceClassName"), registry.ValidateDNSSubdomain)
	errs = append(errs, validateSelectors(selectors, false, fldPath.Child("selectors"))...)
	switch mode {
	case resourcev1.DeviceAllocationModeAll:
		if count != 0 {
			errs = append(errs, field.Invalid(fldPath.Child("count"), count, fmt.Sprintf("must not be specified when allocationMode is '%s'", mode)))
		}
	case resourcev1.DeviceAllocationModeExactCount:
		if count <= 0 {
			errs = append(errs, field.Invalid(fldPath.Child("count"), count, "must be greater than zero"))
		}
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("allocationMode"), mode, []resourcev1.DeviceAllocationMode{resourcev1.DeviceAllocationModeAll, resourcev1.DeviceAllocationModeExactCount}))
	}
	for i, t := range tolerations {
		p := fldPath.Child("tolerations").Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		}
		switch t.Operator {
		case resourcev1.DeviceTolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("value"), t.Value, "must be empty for operator `Exists`"))
			}
		case resourcev1.DeviceTolerationOpEqual, "":
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator, []resourcev1.DeviceTolerationOperator{resourcev1.DeviceTolerationOpEqual, resourcev1.DeviceTolerationOpExists}))
		}
		if t.Effect != "" && !validTaintEffects.Has(t.Effect) {
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, sets.List(validTaintEffects)))
		}
	}
	return errs
}

const requestRefMessage = "must be the name of a request in the claim or the name of a request and a subrequest separated by '/'"

func validateRequestRef(name string, names sets.Set[string], fldPath *field.Path) field.ErrorList {
	segments := strings.Split(name, "/")
	if len(segments) > 2 {
		return field.ErrorList{field.Invalid(fldPath, name, requestRefMessage)}
	}
	var errs field.ErrorList
	for _, s := range segments {
		errs = append(errs, required(s, fldPath, registry.ValidateDNSLabel)...)
	}
	if !names.Has(name) {
		errs = append(errs, field.Invalid(fldPath, name, requestRefMessage))
	}
	return errs
}

func validateClaimStatus(st, old *resourcev1.ResourceClaimStatus, deleting bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if a := st.Allocation; a != nil {
		ap := fldPath.Child("allocation", "devices")
		for i, r := range a.Devices.Results {
			p := ap.Child("results").Index(i)
			errs = append(errs, required(r.Request, p.Child("request"), func(s string, fp *field.Path) field.ErrorList {
				if len(strings.Split(s, "/")) > 2 {
					return field.ErrorList{field.Invalid(fp, s, requestRefMessage)}
				}
				return nil
			})...)
			errs = append(errs, required(r.Driver, p.Child("driver"), registry.ValidateDNSSubdomain)...)
			errs = append(errs, validatePoolName(r.Pool, p.Child("pool"))...)
			errs = append(errs, required(r.Device, p.Child("device"), registry.ValidateDNSLabel)...)
		}
		if old.Allocation != nil && !semanticEqual(a, old.Allocation) {
			errs = append(errs, field.Invalid(fldPath.Child("allocation"), "", "field is immutable"))
		}
	}
	if len(st.ReservedFor) > 0 && st.Allocation == nil {
		errs = append(errs, field.Forbidden(fldPath.Child("reservedFor"), "may not be specified when `allocated` is not set"))
	}
	if len(st.ReservedFor) > resourcev1.ResourceClaimReservedForMaxSize {
		errs = append(errs, field.TooMany(fldPath.Child("reservedFor"), len(st.ReservedFor), resourcev1.ResourceClaimReservedForMaxSize))
	}
	oldRefs := sets.New[string]()
	for _, r := range old.ReservedFor {
		oldRefs.Insert(string(r.UID))
	}
	for i, r := range st.ReservedFor {
		p := fldPath.Child("reservedFor").Index(i)
		if r.Resource == "" {
			errs = append(errs, field.Required(p.Child("resource"), ""))
		}
		if r.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if r.UID == "" {
			errs = append(errs, field.Required(p.Child("uid"), ""))
		}
		if deleting && !oldRefs.Has(string(r.UID)) {
			errs = append(errs, field.Forbidden(fldPath.Child("reservedFor"), "new entries may not be added while `deallocationRequested` or `deletionTimestamp` are set"))
		}
	}
	return errs
}

func validateSliceSpec(spec, old *resourcev1.ResourceSliceSpec, fldPath *field.Path) field.ErrorList {
	errs := required(spec.Driver, fldPath.Child("driver"), registry.ValidateDNSSubdomain)
	if old != nil && spec.Driver != old.Driver {
		errs = append(errs, field.Invalid(fldPath.Child("driver"), spec.Driver, "field is immutable"))
	}
	pp := fldPath.Child("pool")
	errs = append(errs, validatePoolName(spec.Pool.Name, pp.Child("name"))...)
	if spec.Pool.ResourceSliceCount <= 0 {
		errs = append(errs, field.Invalid(pp.Child("resourceSliceCount"), spec.Pool.ResourceSliceCount, "must be greater than zero"))
	}
	if spec.Pool.Generation < 0 {
		errs = append(errs, field.Invalid(pp.Child("generation"), spec.Pool.Generation, "must be greater than or equal to zero"))
	}

	var set []string
	if spec.NodeName != nil {
		set = append(set, "`nodeName`")
		for _, msg := range validation.IsDNS1123Subdomain(*spec.NodeName) {
			errs = append(errs, field.Invalid(fldPath.Child("nodeName"), *spec.NodeName, msg))
		}
		if old != nil && old.NodeName != nil && *old.NodeName != *spec.NodeName {
			errs = append(errs, field.Invalid(fldPath.Child("nodeName"), *spec.NodeName, "field is immutable"))
		}
	}
	if spec.NodeSelector != nil {
		set = append(set, "`nodeSelector`")
		if len(spec.NodeSelector.NodeSelectorTerms) != 1 {
			errs = append(errs, field.Invalid(fldPath.Child("nodeSelector", "nodeSelectorTerms"), spec.NodeSelector.NodeSelectorTerms, "must have exactly one node selector term"))
		}
	}
	if spec.AllNodes != nil {
		set = append(set, "`allNodes`")
		if !*spec.AllNodes {
			errs = append(errs, field.Invalid(fldPath.Child("allNodes"), *spec.AllNodes, "must be either unset or set to true"))
		}
	}
	if spec.PerDeviceNodeSelection != nil {
		set = append(set, "`perDeviceNodeSelection`")
		if !*spec.PerDeviceNodeSelection {
			errs = append(errs, field.Invalid(fldPath.Child("perDeviceNodeSelection"), *spec.PerDeviceNodeSelection, "must be either unset or set to true"))
		}
	}
	switch len(set) {
	case 0:
		errs = append(errs, field.Required(fldPath, "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"))
	case 1:
	default:
		errs = append(errs, field.Invalid(fldPath, fmt.Sprintf("{%s}", strings.Join(set, ", ")),
			"exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, but multiple fields are set"))
	}

	if len(spec.Devices) > resourcev1.ResourceSliceMaxDevices {
		errs = append(errs, field.TooMany(fldPath.Child("devices"), len(spec.Devices), resourcev1.ResourceSliceMaxDevices))
		return errs
	}
	devices := sets.New[string]()
	for i, d := range spec.Devices {
		p := fldPath.Child("devices").Index(i)
		errs = append(errs, required(d.Name, p.Child("name"), registry.ValidateDNSLabel)...)
		if devices.Has(d.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), d.Name))
		}
		devices.Insert(d.Name)
		for name, a := range d.Attributes {
			ap := p.Child("attributes").Key(string(name))
			n := 0
			for _, set := range []bool{a.IntValue != nil, a.BoolValue != nil, a.StringValue != nil, a.VersionValue != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				errs = append(errs, field.Invalid(ap, a, "exactly one value must be specified"))
			}
		}
		for j, t := range d.Taints {
			errs = append(errs, validateTaint(t, nil, p.Child("taints").Index(j))...)
		}
	}
	return errs
}

var validTaintEffects = sets.New(resourcev1.DeviceTaintEffectNoSchedule, resourcev1.DeviceTaintEffectNoExecute, resourcev1.DeviceTaintEffectNone)

func validateTaint(t resourcev1.DeviceTaint, old *resourcev1.DeviceTaint, fldPath *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabelName(t.Key, fldPath.Child("key"))
	if t.Value != "" {
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(fldPath.Child("value"), t.Value, msg))
		}
	}
	// An effect that was accepted stays acceptable.
	if old == nil || old.Effect != t.Effect {
		switch {
		case t.Effect == "":
			errs = append(errs, field.Required(fldPath.Child("effect"), ""))
		case !validTaintEffects.Has(t.Effect):
			errs = append(errs, field.NotSupported(fldPath.Child("effect"), t.Effect, sets.List(validTaintEffects)))
		}
	}
	return errs
}

func validateDeviceTaintRuleSpec(spec, old *resourcev1.DeviceTaintRuleSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s := spec.DeviceSelector; s != nil {
		p := fldPath.Child("deviceSelector")
		if s.Driver != nil {
			errs = append(errs, required(*s.Driver, p.Child("driver"), registry.ValidateDNSSubdomain)...)
		}
		if s.Pool != nil {
			errs = append(errs, validatePoolName(*s.Pool, p.Child("pool"))...)
		}
		if s.Device != nil {
			errs = append(errs, required(*s.Device, p.Child("device"), registry.ValidateDNSLabel)...)
		}
	}
	var oldTaint *resourcev1.DeviceTaint
	if old != nil {
		oldTaint = &old.Taint
	}
	return append(errs, validateTaint(spec.Taint, oldTaint, fldPath.Child("taint"))...)
}

func validateConditions(conds []metav1.Condition, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateConditions(conds, fldPath)
}
