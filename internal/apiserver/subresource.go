package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// subresourceOps adapts the generic update and patch paths to a subresource.
type subresourceOps struct {
	name string
	// gvk is the kind of the request and response bodies when it is not the
	// resource's own (Scale).
	gvk *schema.GroupVersionKind
	// view turns the current object into what a patch applies to.
	view    func(current runtime.Object) runtime.Object
	newView func() runtime.Object
	// fromRequest merges a decoded request body into the current object.
	fromRequest func(current, req runtime.Object) (runtime.Object, error)
	// toResponse turns the stored object into the response body.
	toResponse func(obj runtime.Object) runtime.Object
}

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

func (s *Server) serveSubresource(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	switch info.subresource {
	case "status", "approval", "ephemeralcontainers", "resize":
		sub := &subresourceOps{name: info.subresource}
		switch info.verb {
		case "get":
			s.handleGet(w, r, res, info)
		case "update":
			s.handleUpdate(w, r, res, info, sub)
		case "patch":
			s.handlePatch(w, r, res, info, sub)
		default:
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
		}
	case "scale":
		sub := s.scaleOps(res)
		if sub == nil {
			s.writeError(w, r, apierrors.NewNotFound(res.groupResource(), info.name))
			return
		}
		switch info.verb {
		case "get":
			t, ok := s.target(w, r)
			if !ok {
				return
			}
			obj, err := s.readObject(r.Context(), res, info.namespace, info.name)
			if err == nil {
				obj, err = res.fromStorage(r.Context(), obj)
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			s.writeObject(w, r, target{media: t.media, pretty: t.pretty}, http.StatusOK, sub.toResponse(obj))
		case "update":
			s.handleUpdate(w, r, res, info, sub)
		case "patch":
			s.handlePatch(w, r, res, info, sub)
		default:
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
		}
	case "log", "exec", "attach", "portforward":
		if res.Resource.Resource != "pods" || res.GroupVersion.Group != "" {
			s.writeError(w, r, apierrors.NewNotFound(res.groupResource(), info.name))
			return
		}
		s.servePodStream(w, r, info)
	case "proxy":
		s.serveProxy(w, r, res, info)
	case "eviction":
		s.handleEviction(w, r, res, info)
	case "token":
		if info.verb != "create" || res.Resource.Resource != "serviceaccounts" {
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
			return
		}
		s.handleTokenRequest(w, r, res, info)
	case "binding":
		if info.verb != "create" {
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
			return
		}
		s.handleBinding(w, r, res, info)
	case "finalize":
		if info.verb != "update" {
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
			return
		}
		s.handleUpdate(w, r, res, info, &subresourceOps{name: "finalize", fromRequest: func(current, req runtime.Object) (runtime.Object, error) {
			cur, ok1 := current.(*corev1.Namespace)
			in, ok2 := req.(*corev1.Namespace)
			if !ok1 || !ok2 {
				return nil, apierrors.NewBadRequest("finalize takes a Namespace")
			}
			cur.Spec.Finalizers = in.Spec.Finalizers
			if in.ResourceVersion != "" {
				cur.ResourceVersion = in.ResourceVersion
			}
			return cur, nil
		}})
	default:
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: res.GroupVersion.Group, Resource: res.Resource.Resource + "/" + info.subresource}, info.verb))
	}
}

// scaleOps serves /scale through the resource's ScaleAccess.
func (s *Server) scaleOps(res *resource) *subresourceOps {
	sa := res.Strategy.Scale
	if sa == nil {
		return nil
	}
	view := func(obj runtime.Object) runtime.Object {
		sc := sa.Get(obj)
		m := accessor(obj)
		sc.TypeMeta = metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"}
		sc.ObjectMeta = metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()}
		return sc
	}
	return &subresourceOps{
		name:    "scale",
		gvk:     &scaleGVK,
		view:    view,
		newView: func() runtime.Object { return &autoscalingv1.Scale{} },
		fromRequest: func(current, req runtime.Object) (runtime.Object, error) {
			sc, ok := req.(*autoscalingv1.Scale)
			if !ok {
				return nil, apierrors.NewBadRequest("scale takes an autoscaling/v1 Scale")
			}
			if sc.Spec.Replicas < 0 {
				return nil, apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, sc.Name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "replicas"), sc.Spec.Replicas, "must be greater than or equal to 0")})
			}
			m := accessor(current)
			if sc.ResourceVersion != "" && sc.ResourceVersion != m.GetResourceVersion() {
				return nil, apierrors.NewConflict(res.groupResource(), m.GetName(), errors.New(optimisticLockMsg))
			}
			sa.SetReplicas(current, sc.Spec.Replicas)
			return current, nil
		},
		toResponse: view,
	}
}

// handleBinding assigns a pod to a node (pods/binding, or the bindings
// resource), as the scheduler does.
func (s *Server) handleBinding(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	obj, opts, err := s.decodeRequest(w, r, corev1.SchemeGroupVersion.WithKind("Binding"), &corev1.Binding{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := obj.(*corev1.Binding)
	name := info.name
	if b.Name != "" && name != "" && b.Name != name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", b.Name, name)))
		return
	}
	if name == "" {
		name = b.Name
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		s.writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, name, field.ErrorList{
			field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"})}))
		return
	}
	if b.Target.Name == "" {
		s.writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, name, field.ErrorList{
			field.Required(field.NewPath("target", "name"), "")}))
		return
	}
	pods, _ := s.lookup("", "v1", "pods")
	pinfo := requestInfo{namespace: info.namespace, name: name, resource: "pods"}
	mutate := func(current runtime.Object) (runtime.Object, error) {
		pod := current.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(pods.groupResource(), name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(pods.groupResource(), name, fmt.Errorf("pod %s is already assigned to node %q", name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(pods.groupResource(), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return pod, nil
	}
	// The binding writes spec and status together, so it bypasses the
	// main-resource rule that keeps status.
	if _, err := s.update(r.Context(), pods, pinfo, "", mutate, opts, &subresourceOps{name: "binding"}); err != nil {
		s.writeError(w, r, err)
		return
	}
	st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated}
	t, _ := negotiate(r)
	s.writeObject(w, r, target{media: t.media}, http.StatusCreated, st)
}

func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status != c.Status {
				st.Conditions[i] = c
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}
