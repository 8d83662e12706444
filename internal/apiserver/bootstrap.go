package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff/internal/apiserver/allocator"
	"skiff/internal/apiserver/registry/scheduling"
	"skiff/internal/apiserver/registry/storageapi"
)

// BootstrapConfig says where the API server can be reached from pods.
type BootstrapConfig struct {
	// AdvertiseAddress is the address the kubernetes Service points at.
	AdvertiseAddress net.IP
	// Port is the API server's HTTPS port.
	Port int
	// ClientCA signs the client certificates the API server accepts;
	// RequestHeaderCA the front-proxy client certificate it presents to
	// extension API servers, whose allowed names are
	// RequestHeaderAllowedNames. Both are published, as upstream does, in
	// kube-system/extension-apiserver-authentication; nothing is published
	// without RequestHeaderCA.
	ClientCA, RequestHeaderCA []byte
	RequestHeaderAllowedNames []string
	// DefaultStorageClass creates the StorageClass local-path, the default
	// class of skiff's built-in local-path provisioner, when it is missing.
	// An existing one is never changed, so a user's edits stay.
	DefaultStorageClass bool
	// IngressClass, when set, is created when missing: the class of the
	// built-in ingress controller. An existing one is never changed.
	IngressClass *networkingv1.IngressClass
}

// systemNamespaces exist from the first start on.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// Bootstrap creates what every cluster has from the start: the system
// namespaces, the kubernetes Service in default with its endpoints, the
// default ServiceCIDR and the two system PriorityClasses. It is
// idempotent; endpoints follow a changed advertise address. Call it once the
// cache is ready.
func (s *Server) Bootstrap(ctx context.Context, cfg BootstrapConfig) error {
	wo := writeOptions{fieldManager: "skiff", fieldValidation: "Ignore"}
	for _, ns := range systemNamespaces {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if err := s.ensure(ctx, "", "v1", "namespaces", "", obj, wo); err != nil {
			return err
		}
	}
	cidr := s.cfg.ServiceCIDR
	first := allocator.FirstIP(cidr).String()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: first,
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(int32(cfg.Port))}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if err := s.ensure(ctx, "", "v1", "services", "default", svc, wo); err != nil {
		return err
	}
	if err := s.ensureServiceCIDR(ctx, cidr.String(), wo); err != nil {
		return err
	}
	for _, pc := range scheduling.SystemPriorityClasses() {
		if err := s.ensure(ctx, schedulingv1.GroupName, "v1", "priorityclasses", "", pc, wo); err != nil {
			return err
		}
	}
	if cfg.DefaultStorageClass {
		if err := s.ensure(ctx, storagev1.GroupName, "v1", "storageclasses", "", defaultStorageClass(), wo); err != nil {
			return err
		}
	}
	if cfg.IngressClass != nil {
		if err := s.ensure(ctx, networkingv1.GroupName, "v1", "ingressclasses", "", cfg.IngressClass.DeepCopy(), wo); err != nil {
			return err
		}
	}
	if len(cfg.RequestHeaderCA) > 0 {
		if err := s.ensureUpdated(ctx, "", "v1", "configmaps", metav1.NamespaceSystem, extensionAuthentication(cfg), wo); err != nil {
			return err
		}
	}
	if cfg.AdvertiseAddress == nil {
		return nil
	}
	// This server's Lease, and the live servers' addresses in the
	// kubernetes endpoints; RunEndpointReconciler keeps them so.
	return s.reconcileEndpoints(ctx, cfg.AdvertiseAddress, cfg.Port, time.Now())
}

// ensure creates obj unless it exists.
func (s *Server) ensure(ctx context.Context, group, version, resourceName, ns string, obj runtime.Object, wo writeOptions) error {
	res, ok := s.lookup(group, version, resourceName)
	if !ok {
		return nil
	}
	setGVK(obj, res.gvk)
	if _, err := s.cfg.Store.Get(ctx, res.key(ns, accessor(obj).GetName())); err == nil {
		return nil
	}
	_, _, err := s.create(ctx, res, ns, obj, wo)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bootstrap %s %s: %w", resourceName, accessor(obj).GetName(), err)
	}
	return nil
}

// ensureUpdated creates obj or replaces what is stored with it.
func (s *Server) ensureUpdated(ctx context.Context, group, version, resourceName, ns string, obj runtime.Object, wo writeOptions) error {
	res, ok := s.lookup(group, version, resourceName)
	if !ok {
		return nil
	}
	setGVK(obj, res.gvk)
	_, _, err := s.create(ctx, res, ns, obj.DeepCopyObject(), wo)
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bootstrap %s %s: %w", resourceName, accessor(obj).GetName(), err)
	}
	info := requestInfo{namespace: ns, name: accessor(obj).GetName(), resource: resourceName}
	_, err = s.update(ctx, res, info, "", func(current runtime.Object) (runtime.Object, error) {
		next := obj.DeepCopyObject()
		cm, nm := accessor(current), accessor(next)
		nm.SetLabels(cm.GetLabels())
		for k, v := range accessor(obj).GetLabels() {
			l := nm.GetLabels()
			if l == nil {
				l = map[string]string{}
			}
			l[k] = v
			nm.SetLabels(l)
		}
		nm.SetAnnotations(cm.GetAnnotations())
		nm.SetOwnerReferences(cm.GetOwnerReferences())
		nm.SetFinalizers(cm.GetFinalizers())
		nm.SetManagedFields(cm.GetManagedFields())
		return next, nil
	}, wo, nil)
	if err != nil {
		return fmt.Errorf("bootstrap %s %s: %w", resourceName, accessor(obj).GetName(), err)
	}
	return nil
}

// defaultServiceCIDR names the ServiceCIDR of the range the server
// allocates ClusterIPs from, as upstream.
const defaultServiceCIDR = "kubernetes"

// ensureServiceCIDR creates the default ServiceCIDR for cidr and marks it
// Ready, as upstream's API server does at start.
func (s *Server) ensureServiceCIDR(ctx context.Context, cidr string, wo writeOptions) error {
	obj := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: defaultServiceCIDR},
		Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{cidr}}}
	if err := s.ensure(ctx, networkingv1.GroupName, "v1", "servicecidrs", "", obj, wo); err != nil {
		return err
	}
	res, ok := s.lookup(networkingv1.GroupName, "v1", "servicecidrs")
	if !ok {
		return nil
	}
	_, err := s.update(ctx, res, requestInfo{name: defaultServiceCIDR}, "", func(cur runtime.Object) (runtime.Object, error) {
		sc, ok := cur.(*networkingv1.ServiceCIDR)
		if !ok {
			return nil, fmt.Errorf("servicecidr %s: unexpected %T", defaultServiceCIDR, cur)
		}
		if meta.IsStatusConditionTrue(sc.Status.Conditions, networkingv1.ServiceCIDRConditionReady) {
			return sc, nil
		}
		meta.SetStatusCondition(&sc.Status.Conditions, metav1.Condition{Type: networkingv1.ServiceCIDRConditionReady,
			Status: metav1.ConditionTrue, Reason: "ServiceCIDRReady", Message: "Kubernetes Service CIDR is ready"})
		return sc, nil
	}, wo, &subresourceOps{name: "status"})
	if err != nil {
		return fmt.Errorf("bootstrap servicecidr status: %w", err)
	}
	return nil
}

// extensionAuthentication is kube-system/extension-apiserver-authentication:
// how extension API servers authenticate the API server's requests (client
// certificates of ClientCA, or the front-proxy certificate with the caller
// in X-Remote-* headers). List values are JSON arrays, as upstream writes
// them.
func extensionAuthentication(cfg BootstrapConfig) *corev1.ConfigMap {
	list := func(v []string) string {
		data, _ := json.Marshal(v)
		return string(data)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "extension-apiserver-authentication", Namespace: metav1.NamespaceSystem},
		Data: map[string]string{
			"client-ca-file":                     string(cfg.ClientCA),
			"requestheader-client-ca-file":       string(cfg.RequestHeaderCA),
			"requestheader-allowed-names":        list(cfg.RequestHeaderAllowedNames),
			"requestheader-username-headers":     list([]string{"X-Remote-User"}),
			"requestheader-group-headers":        list([]string{"X-Remote-Group"}),
			"requestheader-extra-headers-prefix": list([]string{"X-Remote-Extra-"}),
		},
	}
}

// defaultStorageClass is local-path: skiff's built-in provisioner, which
// needs the consuming pod's node (WaitForFirstConsumer), marked the
// cluster's default class.
func defaultStorageClass() *storagev1.StorageClass {
	deleteP := corev1.PersistentVolumeReclaimDelete
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	expand := true
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "local-path",
			Annotations: map[string]string{storageapi.IsDefaultStorageClassAnnotation: "true"}},
		Provisioner:          "skiff.io/local-path",
		ReclaimPolicy:        &deleteP,
		VolumeBindingMode:    &wffc,
		AllowVolumeExpansion: &expand,
	}
}
