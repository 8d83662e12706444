package podsecurity

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

func noPrivilegeEscalation(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var bad []string
	containers(spec, func(c *corev1.Container) {
		if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) == 0 {
		return allowed
	}
	return Result{
		Reason: "allowPrivilegeEscalation != false",
		Detail: namedContainers(bad) + " must set securityContext.allowPrivilegeEscalation=false",
	}
}

// capabilitiesRestricted requires dropping ALL and adding at most
// NET_BIND_SERVICE.
func capabilitiesRestricted(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var noDrop, adding []string
	caps := sets.New[string]()
	containers(spec, func(c *corev1.Container) {
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			noDrop = append(noDrop, c.Name)
			return
		}
		dropsAll := false
		for _, d := range c.SecurityContext.Capabilities.Drop {
			if d == "ALL" {
				dropsAll = true
				break
			}
		}
		if !dropsAll {
			noDrop = append(noDrop, c.Name)
		}
		found := false
		for _, a := range c.SecurityContext.Capabilities.Add {
			if a != "NET_BIND_SERVICE" {
				found = true
				caps.Insert(string(a))
			}
		}
		if found {
			adding = append(adding, c.Name)
		}
	})
	var details []string
	if len(noDrop) > 0 {
		details = append(details, namedContainers(noDrop)+` must set securityContext.capabilities.drop=["ALL"]`)
	}
	if len(adding) > 0 {
		details = append(details, fmt.Sprintf("%s must not include %s in securityContext.capabilities.add", namedContainers(adding), quoted(sets.List(caps))))
	}
	if len(details) == 0 {
		return allowed
	}
	return Result{Reason: "unrestricted capabilities", Detail: strings.Join(details, "; ")}
}

// restrictedVolumes allows only the volume types that expose nothing of
// the node or of other storage the pod's user may not otherwise reach.
func restrictedVolumes(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var bad []string
	types := sets.New[string]()
	for _, v := range spec.Volumes {
		s := v.VolumeSource
		if s.ConfigMap != nil || s.CSI != nil || s.DownwardAPI != nil || s.EmptyDir != nil || s.Ephemeral != nil ||
			s.Image != nil || s.PersistentVolumeClaim != nil || s.Projected != nil || s.Secret != nil {
			continue
		}
		bad = append(bad, v.Name)
		types.Insert(volumeType(s))
	}
	if len(bad) == 0 {
		return allowed
	}
	return Result{
		Reason: "restricted volume types",
		Detail: fmt.Sprintf("%s %s %s %s %s", plural(len(bad), "volume", "volumes"), quoted(bad), plural(len(bad), "uses", "use"),
			plural(types.Len(), "restricted volume type", "restricted volume types"), quoted(sets.List(types))),
	}
}

// volumeType names a volume source restricted does not allow.
func volumeType(s corev1.VolumeSource) string {
	switch {
	case s.HostPath != nil:
		return "hostPath"
	case s.GCEPersistentDisk != nil:
		return "gcePersistentDisk"
	case s.AWSElasticBlockStore != nil:
		return "awsElasticBlockStore"
	case s.GitRepo != nil:
		return "gitRepo"
	case s.NFS != nil:
		return "nfs"
	case s.ISCSI != nil:
		return "iscsi"
	case s.Glusterfs != nil:
		return "glusterfs"
	case s.RBD != nil:
		return "rbd"
	case s.FlexVolume != nil:
		return "flexVolume"
	case s.Cinder != nil:
		return "cinder"
	case s.CephFS != nil:
		return "cephfs"
	case s.Flocker != nil:
		return "flocker"
	case s.FC != nil:
		return "fc"
	case s.AzureFile != nil:
		return "azureFile"
	case s.VsphereVolume != nil:
		return "vsphereVolume"
	case s.Quobyte != nil:
		return "quobyte"
	case s.AzureDisk != nil:
		return "azureDisk"
	case s.PhotonPersistentDisk != nil:
		return "photonPersistentDisk"
	case s.PortworxVolume != nil:
		return "portworxVolume"
	case s.ScaleIO != nil:
		return "scaleIO"
	case s.StorageOS != nil:
		return "storageos"
	}
	return "unknown"
}

// runAsNonRoot requires runAsNonRoot=true on the pod or every container,
// and false nowhere.
func runAsNonRoot(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var setters []string
	podTrue := false
	if sc := spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		if *sc.RunAsNonRoot {
			podTrue = true
		} else {
			setters = append(setters, "pod")
		}
	}
	var explicit, implicit []string
	containers(spec, func(c *corev1.Container) {
		if sc := c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
			if !*sc.RunAsNonRoot {
				explicit = append(explicit, c.Name)
			}
			return
		}
		if !podTrue {
			implicit = append(implicit, c.Name)
		}
	})
	if len(explicit) > 0 {
		setters = append(setters, namedContainers(explicit))
	}
	if len(setters) > 0 {
		return Result{
			Reason: "runAsNonRoot != true",
			Detail: strings.Join(setters, " and ") + " must not set securityContext.runAsNonRoot=false",
		}
	}
	if len(implicit) > 0 {
		return Result{
			Reason: "runAsNonRoot != true",
			Detail: "pod or " + namedContainers(implicit) + " must set securityContext.runAsNonRoot=true",
		}
	}
	return allowed
}

func runAsNonZeroUser(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var setters []string
	if sc := spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		setters = append(setters, "pod")
	}
	var bad []string
	containers(spec, func(c *corev1.Container) {
		if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) > 0 {
		setters = append(setters, namedContainers(bad))
	}
	if len(setters) == 0 {
		return allowed
	}
	return Result{Reason: "runAsUser=0", Detail: strings.Join(setters, " and ") + " must not set runAsUser=0"}
}

// seccompRestricted requires RuntimeDefault or Localhost on the pod or
// every container.
func seccompRestricted(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	setters, values, podOK, unset := seccompExplicit(spec)
	if len(setters) > 0 {
		return Result{
			Reason: "seccompProfile",
			Detail: fmt.Sprintf("%s must not set securityContext.seccompProfile.type to %s", strings.Join(setters, " and "), quoted(sets.List(values))),
		}
	}
	if !podOK && len(unset) > 0 {
		return Result{
			Reason: "seccompProfile",
			Detail: "pod or " + namedContainers(unset) + ` must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
		}
	}
	return allowed
}
