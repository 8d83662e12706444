package auth

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Synced is closed once Run has listed every kind the graph follows.
func (g *NodeGraph) Synced() <-chan struct{} { return g.synced }

// Run keeps g up to date from informers on pods, PersistentVolumes,
// VolumeAttachments, ResourceSlices and PodCertificateRequests, read with
// client, until ctx is done; it closes Synced once they have listed.
func (g *NodeGraph) Run(ctx context.Context, client kubernetes.Interface) error {
	// The graph reads little of a pod: keep the informer's copy small.
	slim := informers.WithTransform(func(obj any) (any, error) {
		switch o := obj.(type) {
		case *corev1.Pod:
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, UID: o.UID,
				ResourceVersion: o.ResourceVersion}, Spec: o.Spec}
			if v, ok := o.Annotations[corev1.MirrorPodAnnotationKey]; ok {
				p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: v}
			}
			p.Status.ResourceClaimStatuses = o.Status.ResourceClaimStatuses
			p.Status.ExtendedResourceClaimStatus = o.Status.ExtendedResourceClaimStatus
			return p, nil
		case metav1.Object:
			o.SetManagedFields(nil)
		}
		return obj, nil
	})
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, slim)
	var synced []cache.InformerSynced
	handle := func(inf cache.SharedIndexInformer, set func(obj any), del func(obj any)) error {
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: set,
			UpdateFunc: func(old, obj any) {
				if !samePodUses(old, obj) {
					set(obj)
				}
			},
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				del(obj)
			},
		})
		if err != nil {
			return fmt.Errorf("node graph: %w", err)
		}
		synced = append(synced, reg.HasSynced)
		return nil
	}
	err := handle(f.Core().V1().Pods().Informer(),
		func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				g.SetPod(p)
			}
		},
		func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				g.DeletePod(p.Namespace, p.Name)
			}
		})
	if err == nil {
		err = handle(f.Core().V1().PersistentVolumes().Informer(),
			func(obj any) {
				if pv, ok := obj.(*corev1.PersistentVolume); ok {
					g.SetPV(pv)
				}
			},
			func(obj any) {
				if pv, ok := obj.(*corev1.PersistentVolume); ok {
					g.DeletePV(pv.Name)
				}
			})
	}
	if err == nil {
		err = handle(f.Storage().V1().VolumeAttachments().Informer(),
			func(obj any) {
				if va, ok := obj.(*storagev1.VolumeAttachment); ok {
					g.SetVolumeAttachment(va.Name, va.Spec.NodeName)
				}
			},
			func(obj any) {
				if va, ok := obj.(*storagev1.VolumeAttachment); ok {
					g.SetVolumeAttachment(va.Name, "")
				}
			})
	}
	if err == nil {
		err = handle(f.Resource().V1().ResourceSlices().Informer(),
			func(obj any) {
				if s, ok := obj.(*resourcev1.ResourceSlice); ok && s.Spec.NodeName != nil {
					g.SetResourceSlice(s.Name, *s.Spec.NodeName)
				}
			},
			func(obj any) {
				if s, ok := obj.(*resourcev1.ResourceSlice); ok {
					g.SetResourceSlice(s.Name, "")
				}
			})
	}
	if err == nil {
		err = handle(f.Certificates().V1().PodCertificateRequests().Informer(),
			func(obj any) {
				if r, ok := obj.(*certificatesv1.PodCertificateRequest); ok {
					g.SetPodCertificateRequest(r)
				}
			},
			func(obj any) {
				if r, ok := obj.(*certificatesv1.PodCertificateRequest); ok {
					g.DeletePodCertificateRequest(r.Namespace, r.Name)
				}
			})
	}
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	if cache.WaitForCacheSync(ctx.Done(), synced...) {
		close(g.synced)
	}
	<-ctx.Done()
	return nil
}

// samePodUses reports whether an update leaves what the graph knows of a
// pod as it was: most updates of a pod are of its status. Only the node,
// the UID, added ephemeral containers and the claims' statuses can change
// what a pod uses; the rest of its spec is immutable.
func samePodUses(oldObj, obj any) bool {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := obj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return false
	}
	return old.UID == pod.UID && old.Spec.NodeName == pod.Spec.NodeName &&
		len(old.Spec.EphemeralContainers) == len(pod.Spec.EphemeralContainers) &&
		equality.Semantic.DeepEqual(old.Status.ResourceClaimStatuses, pod.Status.ResourceClaimStatuses) &&
		equality.Semantic.DeepEqual(old.Status.ExtendedResourceClaimStatus, pod.Status.ExtendedResourceClaimStatus)
}
