package core

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func validatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	if t == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	errs = append(errs, validateLabels(t.Labels, fldPath.Child("labels"))...)
	errs = append(errs, validateAnnotations(t.Annotations, fldPath.Child("annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, nil, fldPath.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

func validatePodSpec(spec *corev1.PodSpec, _ *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	vols, verrs := validateVolumes(spec.Volumes, fldPath.Child("volumes"))
	errs = append(errs, verrs...)

	hostPorts := map[string]bool{}
	names := sets.New[string]()
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(fldPath.Child("containers"), ""))
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		p := fldPath.Child("containers").Index(i)
		errs = append(errs, validateContainer(c, vols, names, spec.HostNetwork, hostPorts, p)...)
		if c.RestartPolicy != nil {
			errs = append(errs, field.Forbidden(p.Child("restartPolicy"), "may not be set for non-init containers"))
		}
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		p := fldPath.Child("initContainers").Index(i)
		errs = append(errs, validateContainer(c, vols, names, spec.HostNetwork, hostPorts, p)...)
		sidecar := false
		if c.RestartPolicy != nil {
			if *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				sidecar = true
			} else {
				errs = append(errs, field.NotSupported(p.Child("restartPolicy"), *c.RestartPolicy, []string{string(corev1.ContainerRestartPolicyAlways)}))
			}
		}
		if !sidecar {
			const msg = "may not be set for init containers without restartPolicy=Always"
			if c.Lifecycle != nil {
				errs = append(errs, field.Forbidden(p.Child("lifecycle"), msg))
			}
			if c.LivenessProbe != nil {
				errs = append(errs, field.Forbidden(p.Child("livenessProbe"), msg))
			}
			if c.ReadinessProbe != nil {
				errs = append(errs, field.Forbidden(p.Child("readinessProbe"), msg))
			}
			if c.StartupProbe != nil {
				errs = append(errs, field.Forbidden(p.Child("startupProbe"), msg))
			}
		}
	}
	for i := range spec.EphemeralContainers {
		c := &spec.EphemeralContainers[i]
		p := fldPath.Child("ephemeralContainers").Index(i)
		errs = append(errs, validateEphemeralContainer(c, vols, names, p)...)
	}

	errs = append(errs, validateRestartPolicy(spec.RestartPolicy, fldPath.Child("restartPolicy"))...)
	errs = append(errs, validateDNSPolicy(spec.DNSPolicy, fldPath.Child("dnsPolicy"))...)
	if spec.DNSPolicy == corev1.DNSNone && spec.DNSConfig == nil {
		errs = append(errs, field.Required(fldPath.Child("dnsConfig"), fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone)))
	}
	if spec.DNSConfig != nil && len(spec.DNSConfig.Nameservers) > 3 {
		errs = append(errs, field.Invalid(fldPath.Child("dnsConfig", "nameservers"), spec.DNSConfig.Nameservers, "must not have more than 3 nameservers"))
	}
	errs = append(errs, validateLabels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)
	if spec.ServiceAccountName != "" {
		errs = append(errs, registry.ValidateDNSSubdomain(spec.ServiceAccountName, fldPath.Child("serviceAccountName"))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, registry.ValidateDNSSubdomain(spec.NodeName, fldPath.Child("nodeName"))...)
	}
	if spec.Hostname != "" {
		errs = append(errs, registry.ValidateDNSLabel(spec.Hostname, fldPath.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, registry.ValidateDNSLabel(spec.Subdomain, fldPath.Child("subdomain"))...)
	}
	if spec.SchedulerName != "" {
		errs = append(errs, registry.ValidateDNSSubdomain(spec.SchedulerName, fldPath.Child("schedulerName"))...)
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, registry.ValidateDNSSubdomain(spec.PriorityClassName, fldPath.Child("priorityClassName"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		v := *spec.ActiveDeadlineSeconds
		if v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	errs = append(errs, validateTolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	for i, g := range spec.ReadinessGates {
		for _, msg := range validation.IsQualifiedName(string(g.ConditionType)) {
			errs = append(errs, field.Invalid(fldPath.Child("readinessGates").Index(i).Child("conditionType"), g.ConditionType, msg))
		}
	}
	for i, s := range spec.ImagePullSecrets {
		if s.Name == "" {
			errs = append(errs, field.Required(fldPath.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	errs = append(errs, validateTopologySpread(spec.TopologySpreadConstraints, fldPath.Child("topologySpreadConstraints"))...)
	if sc := spec.SecurityContext; sc != nil {
		p := fldPath.Child("securityContext")
		if sc.RunAsUser != nil {
			errs = append(errs, validateNonnegative(*sc.RunAsUser, p.Child("runAsUser"))...)
		}
		if sc.RunAsGroup != nil {
			errs = append(errs, validateNonnegative(*sc.RunAsGroup, p.Child("runAsGroup"))...)
		}
		if sc.FSGroup != nil {
			errs = append(errs, validateNonnegative(*sc.FSGroup, p.Child("fsGroup"))...)
		}
		for i, g := range sc.SupplementalGroups {
			errs = append(errs, validateNonnegative(g, p.Child("supplementalGroups").Index(i))...)
		}
		errs = append(errs, validateSysctls(spec, p.Child("sysctls"))...)
	}
	if spec.Resources != nil {
		errs = append(errs, validateResources(spec.Resources, fldPath.Child("resources"))...)
	}
	return errs
}

func validateRestartPolicy(p corev1.RestartPolicy, fldPath *field.Path) field.ErrorList {
	switch p {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
		return nil
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	default:
		return field.ErrorList{field.NotSupported(fldPath, p, []string{"Always", "OnFailure", "Never"})}
	}
}

func validateDNSPolicy(p corev1.DNSPolicy, fldPath *field.Path) field.ErrorList {
	switch p {
	case corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone:
		return nil
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	default:
		return field.ErrorList{field.NotSupported(fldPath, p, []string{"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"})}
	}
}

// containerCommon is what regular, init and ephemeral containers share.
type containerCommon struct {
	name, image              string
	pullPolicy               corev1.PullPolicy
	terminationMessagePolicy corev1.TerminationMessagePolicy
	ports                    []corev1.ContainerPort
	env                      []corev1.EnvVar
	envFrom                  []corev1.EnvFromSource
	mounts                   []corev1.VolumeMount
	devices                  []corev1.VolumeDevice
	resources                *corev1.ResourceRequirements
	liveness, readiness      *corev1.Probe
	startup                  *corev1.Probe
	lifecycle                *corev1.Lifecycle
	sc                       *corev1.SecurityContext
}

func validateContainer(c *corev1.Container, vols map[string]*corev1.Volume, names sets.Set[string], hostNetwork bool, hostPorts map[string]bool, p *field.Path) field.ErrorList {
	cc := containerCommon{
		name: c.Name, image: c.Image, pullPolicy: c.ImagePullPolicy, terminationMessagePolicy: c.TerminationMessagePolicy,
		ports: c.Ports, env: c.Env, envFrom: c.EnvFrom, mounts: c.VolumeMounts, devices: c.VolumeDevices,
		resources: &c.Resources, liveness: c.LivenessProbe, readiness: c.ReadinessProbe, startup: c.StartupProbe,
		lifecycle: c.Lifecycle, sc: c.SecurityContext,
	}
	errs := validateContainerCommon(&cc, vols, names, p)
	for i, port := range c.Ports {
		pp := p.Child("ports").Index(i)
		if hostNetwork && port.HostPort != 0 && port.HostPort != port.ContainerPort {
			errs = append(errs, field.Invalid(pp.Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
		}
		if port.HostPort == 0 {
			continue
		}
		key := fmt.Sprintf("%s/%s/%d", port.Protocol, port.HostIP, port.HostPort)
		if hostPorts[key] {
			errs = append(errs, field.Duplicate(pp.Child("hostPort"), key))
		}
		hostPorts[key] = true
	}
	if cc.liveness != nil && cc.liveness.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("livenessProbe", "successThreshold"), cc.liveness.SuccessThreshold, "must be 1"))
	}
	if cc.startup != nil && cc.startup.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("startupProbe", "successThreshold"), cc.startup.SuccessThreshold, "must be 1"))
	}
	return errs
}

func validateEphemeralContainer(c *corev1.EphemeralContainer, vols map[string]*corev1.Volume, names sets.Set[string], p *field.Path) field.ErrorList {
	e := &c.EphemeralContainerCommon
	cc := containerCommon{
		name: e.Name, image: e.Image, pullPolicy: e.ImagePullPolicy, terminationMessagePolicy: e.TerminationMessagePolicy,
		env: e.Env, envFrom: e.EnvFrom, mounts: e.VolumeMounts, devices: e.VolumeDevices, sc: e.SecurityContext,
	}
	errs := validateContainerCommon(&cc, vols, names, p)
	const msg = "cannot be set for an Ephemeral Container"
	if len(e.Ports) > 0 {
		errs = append(errs, field.Forbidden(p.Child("ports"), msg))
	}
	if e.LivenessProbe != nil {
		errs = append(errs, field.Forbidden(p.Child("livenessProbe"), msg))
	}
	if e.ReadinessProbe != nil {
		errs = append(errs, field.Forbidden(p.Child("readinessProbe"), msg))
	}
	if e.StartupProbe != nil {
		errs = append(errs, field.Forbidden(p.Child("startupProbe"), msg))
	}
	if e.Lifecycle != nil {
		errs = append(errs, field.Forbidden(p.Child("lifecycle"), msg))
	}
	if len(e.Resources.Limits) > 0 || len(e.Resources.Requests) > 0 {
		errs = append(errs, field.Forbidden(p.Child("resources"), msg))
	}
	return errs
}

func validateContainerCommon(c *containerCommon, vols map[string]*corev1.Volume, names sets.Set[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	namePath := p.Child("name")
	switch {
	case c.name == "":
		errs = append(errs, field.Required(namePath, ""))
	default:
		errs = append(errs, registry.ValidateDNSLabel(c.name, namePath)...)
		if names.Has(c.name) {
			errs = append(errs, field.Duplicate(namePath, c.name))
		}
		names.Insert(c.name)
	}
	if c.image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	} else if strings.TrimSpace(c.image) != c.image {
		errs = append(errs, field.Invalid(p.Child("image"), c.image, "must not have leading or trailing whitespace"))
	}
	switch c.pullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	case "":
		errs = append(errs, field.Required(p.Child("imagePullPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(p.Child("imagePullPolicy"), c.pullPolicy, []string{"Always", "IfNotPresent", "Never"}))
	}
	switch c.terminationMessagePolicy {
	case corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError:
	case "":
		errs = append(errs, field.Required(p.Child("terminationMessagePolicy"), "must be 'File' or 'FallbackToLogsOnError'"))
	default:
		errs = append(errs, field.Invalid(p.Child("terminationMessagePolicy"), c.terminationMessagePolicy, "must be 'File' or 'FallbackToLogsOnError'"))
	}
	errs = append(errs, validateContainerPorts(c.ports, p.Child("ports"))...)
	errs = append(errs, validateEnv(c.env, p.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.envFrom, p.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(c.mounts, vols, p.Child("volumeMounts"))...)
	for i, d := range c.devices {
		dp := p.Child("volumeDevices").Index(i)
		if d.Name == "" {
			errs = append(errs, field.Required(dp.Child("name"), ""))
		} else if _, ok := vols[d.Name]; !ok {
			errs = append(errs, field.NotFound(dp.Child("name"), d.Name))
		}
		if d.DevicePath == "" {
			errs = append(errs, field.Required(dp.Child("devicePath"), ""))
		}
	}
	if c.resources != nil {
		errs = append(errs, validateResources(c.resources, p.Child("resources"))...)
	}
	errs = append(errs, validateProbe(c.liveness, p.Child("livenessProbe"))...)
	errs = append(errs, validateProbe(c.readiness, p.Child("readinessProbe"))...)
	errs = append(errs, validateProbe(c.startup, p.Child("startupProbe"))...)
	if c.lifecycle != nil {
		errs = append(errs, validateLifecycleHandler(c.lifecycle.PostStart, p.Child("lifecycle", "postStart"))...)
		errs = append(errs, validateLifecycleHandler(c.lifecycle.PreStop, p.Child("lifecycle", "preStop"))...)
	}
	if sc := c.sc; sc != nil {
		sp := p.Child("securityContext")
		if sc.RunAsUser != nil {
			errs = append(errs, validateNonnegative(*sc.RunAsUser, sp.Child("runAsUser"))...)
		}
		if sc.RunAsGroup != nil {
			errs = append(errs, validateNonnegative(*sc.RunAsGroup, sp.Child("runAsGroup"))...)
		}
		if sc.Privileged != nil && *sc.Privileged && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			errs = append(errs, field.Invalid(sp, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		p := fldPath.Index(i)
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
			}
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			errs = append(errs, validatePortNum(port.ContainerPort, p.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, validatePortNum(port.HostPort, p.Child("hostPort"))...)
		}
		errs = append(errs, validateProtocol(port.Protocol, p.Child("protocol"))...)
	}
	return errs
}

func validateEnv(env []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		p := fldPath.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, validateEnvVarName(ev.Name, p.Child("name"))...)
		}
		if ev.ValueFrom == nil {
			continue
		}
		vp := p.Child("valueFrom")
		set := setFields(ev.ValueFrom)
		switch {
		case len(set) == 0:
			errs = append(errs, field.Invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
			continue
		case len(set) > 1:
			errs = append(errs, field.Invalid(vp, "", "may not have more than one field specified at a time"))
			continue
		}
		if ev.Value != "" {
			errs = append(errs, field.Invalid(vp, "", "may not be specified when `value` is not empty"))
		}
		vf := ev.ValueFrom
		switch {
		case vf.FieldRef != nil:
			if vf.FieldRef.FieldPath == "" {
				errs = append(errs, field.Required(vp.Child("fieldRef", "fieldPath"), ""))
			}
		case vf.ResourceFieldRef != nil:
			if vf.ResourceFieldRef.Resource == "" {
				errs = append(errs, field.Required(vp.Child("resourceFieldRef", "resource"), ""))
			}
		case vf.ConfigMapKeyRef != nil:
			errs = append(errs, validateKeySelector(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, vp.Child("configMapKeyRef"))...)
		case vf.SecretKeyRef != nil:
			errs = append(errs, validateKeySelector(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, vp.Child("secretKeyRef"))...)
		}
	}
	return errs
}

func validateKeySelector(name, key string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	}
	if key == "" {
		errs = append(errs, field.Required(fldPath.Child("key"), ""))
	} else {
		errs = append(errs, validateConfigMapKey(key, fldPath.Child("key"))...)
	}
	return errs
}

func validateEnvFrom(envFrom []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ef := range envFrom {
		p := fldPath.Index(i)
		if ef.Prefix != "" {
			errs = append(errs, validateEnvVarName(ef.Prefix, p.Child("prefix"))...)
		}
		switch {
		case ef.ConfigMapRef != nil && ef.SecretRef != nil:
			errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
		case ef.ConfigMapRef != nil:
			errs = append(errs, registry.ValidateDNSSubdomain(ef.ConfigMapRef.Name, p.Child("configMapRef", "name"))...)
		case ef.SecretRef != nil:
			errs = append(errs, registry.ValidateDNSSubdomain(ef.SecretRef.Name, p.Child("secretRef", "name"))...)
		default:
			errs = append(errs, field.Invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
		}
	}
	return errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, vols map[string]*corev1.Volume, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	for i, m := range mounts {
		p := fldPath.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if _, ok := vols[m.Name]; !ok {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		} else if paths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths.Insert(m.MountPath)
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, p.Child("subPath"))...)
		}
		if m.SubPath != "" && m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
		}
		if m.MountPropagation != nil {
			switch *m.MountPropagation {
			case corev1.MountPropagationNone, corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional:
			default:
				errs = append(errs, field.NotSupported(p.Child("mountPropagation"), *m.MountPropagation,
					[]string{"Bidirectional", "HostToContainer", "None"}))
			}
		}
	}
	return errs
}

// validateLocalDescendingPath requires a relative path without "..".
func validateLocalDescendingPath(target string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(fldPath, target, "must be a relative path"))
	}
	for _, part := range strings.Split(target, "/") {
		if part == ".." {
			errs = append(errs, field.Invalid(fldPath, target, "must not contain '..'"))
			break
		}
	}
	return errs
}

// validateLocalNonReservedPath also forbids a leading "..".
func validateLocalNonReservedPath(target string, fldPath *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(target, fldPath)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		errs = append(errs, field.Invalid(fldPath, target, "must not start with '..'"))
	}
	return errs
}

// validateResources checks names, non-negative quantities and requests <= limits.
func validateResources(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	errs = append(errs, validateResourceList(r.Limits, limPath, validateContainerResourceName)...)
	errs = append(errs, validateResourceList(r.Requests, reqPath, validateContainerResourceName)...)
	for _, name := range sortedResourceNames(r.Requests) {
		req := r.Requests[name]
		p := reqPath.Key(string(name))
		lim, hasLim := r.Limits[name]
		extended := strings.Contains(string(name), "/") && !strings.Contains(string(name), "kubernetes.io/")
		hugepages := strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
		switch {
		case (extended || hugepages) && !hasLim:
			errs = append(errs, field.Forbidden(p, "Limit must be set for non overcommitable resources"))
		case (extended || hugepages) && req.Cmp(lim) != 0:
			errs = append(errs, field.Invalid(p, req.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
		case hasLim && req.Cmp(lim) > 0:
			errs = append(errs, field.Invalid(p, req.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

func validateProbe(pr *corev1.Probe, fldPath *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	errs := validateHandler(&pr.ProbeHandler, fldPath)
	errs = append(errs, validateNonnegative(int64(pr.InitialDelaySeconds), fldPath.Child("initialDelaySeconds"))...)
	errs = append(errs, validateNonnegative(int64(pr.TimeoutSeconds), fldPath.Child("timeoutSeconds"))...)
	errs = append(errs, validateNonnegative(int64(pr.PeriodSeconds), fldPath.Child("periodSeconds"))...)
	errs = append(errs, validateNonnegative(int64(pr.SuccessThreshold), fldPath.Child("successThreshold"))...)
	errs = append(errs, validateNonnegative(int64(pr.FailureThreshold), fldPath.Child("failureThreshold"))...)
	if pr.TerminationGracePeriodSeconds != nil && *pr.TerminationGracePeriodSeconds <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *pr.TerminationGracePeriodSeconds, "must be greater than 0"))
	}
	return errs
}

// validateHandler requires exactly one of exec, httpGet, tcpSocket, grpc.
func validateHandler(h *corev1.ProbeHandler, fldPath *field.Path) field.ErrorList {
	set := setFields(h)
	if len(set) == 0 {
		return field.ErrorList{field.Required(fldPath, "must specify a handler type")}
	}
	if len(set) > 1 {
		return field.ErrorList{field.Forbidden(fldPath.Child(set[1]), "may not specify more than 1 handler type")}
	}
	var errs field.ErrorList
	switch {
	case h.Exec != nil:
		if len(h.Exec.Command) == 0 {
			errs = append(errs, field.Required(fldPath.Child("exec", "command"), ""))
		}
	case h.HTTPGet != nil:
		errs = append(errs, validateHTTPGet(h.HTTPGet, fldPath.Child("httpGet"))...)
	case h.TCPSocket != nil:
		errs = append(errs, validateIntOrStringPort(h.TCPSocket.Port, fldPath.Child("tcpSocket", "port"))...)
	case h.GRPC != nil:
		errs = append(errs, validatePortNum(h.GRPC.Port, fldPath.Child("grpc", "port"))...)
	}
	return errs
}

func validateHTTPGet(h *corev1.HTTPGetAction, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	}
	errs = append(errs, validateIntOrStringPort(h.Port, fldPath.Child("port"))...)
	if h.Scheme != corev1.URISchemeHTTP && h.Scheme != corev1.URISchemeHTTPS {
		errs = append(errs, field.NotSupported(fldPath.Child("scheme"), h.Scheme, []string{"HTTP", "HTTPS"}))
	}
	for i, hd := range h.HTTPHeaders {
		for _, msg := range validation.IsHTTPHeaderName(hd.Name) {
			errs = append(errs, field.Invalid(fldPath.Child("httpHeaders").Index(i).Child("name"), hd.Name, msg))
		}
	}
	return errs
}

func validateLifecycleHandler(h *corev1.LifecycleHandler, fldPath *field.Path) field.ErrorList {
	if h == nil {
		return nil
	}
	set := setFields(h)
	if len(set) == 0 {
		return field.ErrorList{field.Required(fldPath, "must specify a handler type")}
	}
	if len(set) > 1 {
		return field.ErrorList{field.Forbidden(fldPath.Child(set[1]), "may not specify more than 1 handler type")}
	}
	var errs field.ErrorList
	switch {
	case h.Exec != nil:
		if len(h.Exec.Command) == 0 {
			errs = append(errs, field.Required(fldPath.Child("exec", "command"), ""))
		}
	case h.HTTPGet != nil:
		errs = append(errs, validateHTTPGet(h.HTTPGet, fldPath.Child("httpGet"))...)
	case h.TCPSocket != nil:
		errs = append(errs, validateIntOrStringPort(h.TCPSocket.Port, fldPath.Child("tcpSocket", "port"))...)
	case h.Sleep != nil:
		if h.Sleep.Seconds < 0 {
			errs = append(errs, field.Invalid(fldPath.Child("sleep", "seconds"), h.Sleep.Seconds, "must be non-negative"))
		}
	}
	return errs
}

func validateTolerations(ts []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range ts {
		p := fldPath.Index(i)
		if t.Key != "" {
			for _, msg := range validation.IsQualifiedName(t.Key) {
				errs = append(errs, field.Invalid(p.Child("key"), t.Key, msg))
			}
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, msg))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator, []string{"Equal", "Exists"}))
		}
		if t.Effect != "" {
			errs = append(errs, validateTaintEffect(t.Effect, true, p.Child("effect"))...)
		}
	}
	return errs
}

func validateTaintEffect(e corev1.TaintEffect, allowEmpty bool, fldPath *field.Path) field.ErrorList {
	if e == "" && !allowEmpty {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	switch e {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return nil
	}
	return field.ErrorList{field.NotSupported(fldPath, e, []string{"NoSchedule", "PreferNoSchedule", "NoExecute"})}
}

func validateTopologySpread(cs []corev1.TopologySpreadConstraint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, c := range cs {
		p := fldPath.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(p.Child("maxSkew"), c.MaxSkew, "must be greater than zero"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
		} else {
			for _, msg := range validation.IsQualifiedName(c.TopologyKey) {
				errs = append(errs, field.Invalid(p.Child("topologyKey"), c.TopologyKey, msg))
			}
		}
		switch c.WhenUnsatisfiable {
		case corev1.DoNotSchedule, corev1.ScheduleAnyway:
		default:
			errs = append(errs, field.NotSupported(p.Child("whenUnsatisfiable"), c.WhenUnsatisfiable, []string{"DoNotSchedule", "ScheduleAnyway"}))
		}
		key := c.TopologyKey + "/" + string(c.WhenUnsatisfiable)
		if seen.Has(key) {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)))
		}
		seen.Insert(key)
		if c.LabelSelector != nil {
			errs = append(errs, validateLabelSelector(c.LabelSelector, p.Child("labelSelector"))...)
		}
	}
	return errs
}

// sysctlName is a sysctl's name, with dots or slashes between segments.
const sysctlNameFmt = `([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?`

var sysctlNameRE = regexp.MustCompile("^" + sysctlNameFmt + "$")

// validateSysctls checks the pod's sysctls as upstream: well-formed,
// unique names, and no network sysctls on the host network.
func validateSysctls(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, s := range spec.SecurityContext.Sysctls {
		p := fldPath.Index(i).Child("name")
		name := strings.ReplaceAll(s.Name, "/", ".")
		switch {
		case s.Name == "":
			errs = append(errs, field.Required(p, ""))
		case len(s.Name) > 253 || !sysctlNameRE.MatchString(s.Name):
			errs = append(errs, field.Invalid(p, s.Name, "must have at most 253 characters and match regex "+sysctlNameFmt))
		case seen[name]:
			errs = append(errs, field.Duplicate(p, s.Name))
		case spec.HostNetwork && (strings.HasPrefix(name, "net.")):
			errs = append(errs, field.Invalid(p, s.Name, "may not be specified when 'hostNetwork' is true"))
		}
		seen[name] = true
	}
	return errs
}
