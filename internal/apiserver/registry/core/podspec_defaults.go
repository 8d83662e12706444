package core

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Values upstream's defaulters use.
const (
	defaultTerminationGracePeriod = int64(30)
	defaultSchedulerName          = "default-scheduler"
	defaultTerminationMessagePath = "/dev/termination-log"
	defaultFileMode               = int32(0o644) // 420
)

func defaultPodSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		p := defaultTerminationGracePeriod
		spec.TerminationGracePeriodSeconds = &p
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = defaultSchedulerName
	}
	if spec.EnableServiceLinks == nil {
		b := corev1.DefaultEnableServiceLinks
		spec.EnableServiceLinks = &b
	}
	// The deprecated serviceAccount field mirrors serviceAccountName.
	if spec.ServiceAccountName == "" && spec.DeprecatedServiceAccount != "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	if spec.DeprecatedServiceAccount == "" && spec.ServiceAccountName != "" {
		spec.DeprecatedServiceAccount = spec.ServiceAccountName
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i], spec.HostNetwork)
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i], spec.HostNetwork)
	}
	for i := range spec.EphemeralContainers {
		defaultEphemeralContainer(&spec.EphemeralContainers[i].EphemeralContainerCommon)
	}
	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
	if spec.Resources != nil {
		defaultRequirements(spec.Resources)
	}
}

func defaultContainer(c *corev1.Container, hostNetwork bool) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = defaultTerminationMessagePath
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		p := &c.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		// With the host's network the container port is the host port.
		if hostNetwork && p.HostPort == 0 {
			p.HostPort = p.ContainerPort
		}
	}
	defaultEnv(c.Env)
	defaultRequirements(&c.Resources)
	defaultProbe(c.LivenessProbe)
	defaultProbe(c.ReadinessProbe)
	defaultProbe(c.StartupProbe)
	defaultLifecycle(c.Lifecycle)
}

func defaultEphemeralContainer(c *corev1.EphemeralContainerCommon) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = defaultTerminationMessagePath
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	defaultEnv(c.Env)
	defaultRequirements(&c.Resources)
}

// defaultPullPolicy is Always for the "latest" tag (which an image with
// neither tag nor digest has), IfNotPresent otherwise.
func defaultPullPolicy(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag returns an image reference's tag: "latest" when it has neither
// tag nor digest, "" when it has only a digest.
func imageTag(image string) string {
	name := image
	hasDigest := false
	if i := strings.Index(name, "@"); i >= 0 {
		name = name[:i]
		hasDigest = true
	}
	last := name
	if i := strings.LastIndex(name, "/"); i >= 0 {
		last = name[i+1:]
	}
	if i := strings.LastIndex(last, ":"); i >= 0 {
		return last[i+1:]
	}
	if hasDigest {
		return ""
	}
	return "latest"
}

func defaultEnv(env []corev1.EnvVar) {
	for i := range env {
		if vf := env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
}

// defaultRequirements copies limits into missing requests, as upstream's
// SetDefaults_Pod does, and rounds quantities up to milli units.
func defaultRequirements(r *corev1.ResourceRequirements) {
	roundResourceList(r.Limits)
	roundResourceList(r.Requests)
	if len(r.Limits) == 0 {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = q.DeepCopy()
		}
	}
}

// roundResourceList rounds every quantity up to milli scale, as upstream's
// SetDefaults_ResourceList does for API compatibility.
func roundResourceList(l corev1.ResourceList) {
	for name, q := range l {
		if q.RoundUp(resource.Milli) {
			l[name] = q
		}
	}
}

func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	defaultHTTPGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		s := ""
		p.GRPC.Service = &s
	}
}

func defaultLifecycle(l *corev1.Lifecycle) {
	if l == nil {
		return
	}
	if l.PostStart != nil {
		defaultHTTPGet(l.PostStart.HTTPGet)
	}
	if l.PreStop != nil {
		defaultHTTPGet(l.PreStop.HTTPGet)
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func defaultVolume(v *corev1.Volume) {
	if volumeSourceCount(&v.VolumeSource) == 0 {
		v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}
	defaultVolumeSource(&v.VolumeSource)
}

func defaultMode(m **int32) {
	if *m == nil {
		v := defaultFileMode
		*m = &v
	}
}

func defaultVolumeSource(s *corev1.VolumeSource) {
	if s.Secret != nil {
		defaultMode(&s.Secret.DefaultMode)
	}
	if s.ConfigMap != nil {
		defaultMode(&s.ConfigMap.DefaultMode)
	}
	if s.DownwardAPI != nil {
		defaultMode(&s.DownwardAPI.DefaultMode)
		for i := range s.DownwardAPI.Items {
			if f := s.DownwardAPI.Items[i].FieldRef; f != nil && f.APIVersion == "" {
				f.APIVersion = "v1"
			}
		}
	}
	if s.Projected != nil {
		defaultMode(&s.Projected.DefaultMode)
		for i := range s.Projected.Sources {
			src := &s.Projected.Sources[i]
			if src.ServiceAccountToken != nil && src.ServiceAccountToken.ExpirationSeconds == nil {
				e := int64(3600)
				src.ServiceAccountToken.ExpirationSeconds = &e
			}
			if src.DownwardAPI != nil {
				for j := range src.DownwardAPI.Items {
					if f := src.DownwardAPI.Items[j].FieldRef; f != nil && f.APIVersion == "" {
						f.APIVersion = "v1"
					}
				}
			}
		}
	}
	if s.Image != nil && s.Image.PullPolicy == "" {
		s.Image.PullPolicy = defaultPullPolicy(s.Image.Reference)
	}
	if s.HostPath != nil && s.HostPath.Type == nil {
		t := corev1.HostPathUnset
		s.HostPath.Type = &t
	}
	if s.ISCSI != nil && s.ISCSI.ISCSIInterface == "" {
		s.ISCSI.ISCSIInterface = "default"
	}
	if s.RBD != nil {
		defaultRBD(&s.RBD.RBDPool, &s.RBD.RadosUser, &s.RBD.Keyring)
	}
	if s.AzureDisk != nil {
		defaultAzureDisk(s.AzureDisk)
	}
	if s.Ephemeral != nil && s.Ephemeral.VolumeClaimTemplate != nil {
		defaultPVCSpec(&s.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

func defaultRBD(pool, user, keyring *string) {
	if *pool == "" {
		*pool = "rbd"
	}
	if *user == "" {
		*user = "admin"
	}
	if *keyring == "" {
		*keyring = "/etc/ceph/keyring"
	}
}

func defaultAzureDisk(a *corev1.AzureDiskVolumeSource) {
	if a.CachingMode == nil {
		m := corev1.AzureDataDiskCachingReadWrite
		a.CachingMode = &m
	}
	if a.Kind == nil {
		k := corev1.AzureSharedBlobDisk
		a.Kind = &k
	}
	if a.FSType == nil {
		f := "ext4"
		a.FSType = &f
	}
	if a.ReadOnly == nil {
		r := false
		a.ReadOnly = &r
	}
}

// defaultIntOrStringPort returns port as an IntOrString target port.
func defaultIntOrStringPort(port int32) intstr.IntOrString {
	return intstr.FromInt32(port)
}
