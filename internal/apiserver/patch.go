package apiserver

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sync/atomic"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// patchTypeOf reads the patch type from Content-Type.
func patchTypeOf(r *http.Request) (types.PatchType, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", false
	}
	switch types.PatchType(mt) {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
		return types.PatchType(mt), true
	}
	return "", false
}

// Upstream's limits on JSON patches: the number of operations, and the
// bytes "copy" operations may add in all (so that a patch of copies that
// each double a field cannot grow without bound; the library checks it as
// it copies).
const (
	maxJSONPatchOperations = 10000
	maxJSONPatchCopyBytes  = 3 * 1024 * 1024
)

// limitJSONPatchCopies sets the JSON patch library's copy limit. The
// library (gopkg.in/evanphx/json-patch.v4) has it as a package variable
// only; like upstream's apiserver, New sets it once, atomically, and only
// ever lowers it.
func limitJSONPatchCopies() {
	for {
		cur := atomic.LoadInt64(&jsonpatch.AccumulatedCopySizeLimit)
		if cur > 0 && cur <= maxJSONPatchCopyBytes {
			return
		}
		if atomic.CompareAndSwapInt64(&jsonpatch.AccumulatedCopySizeLimit, cur, maxJSONPatchCopyBytes) {
			return
		}
	}
}

// patchFailed is upstream's 422 for a patch that does not apply.
func patchFailed(err error) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid,
		Message: err.Error(),
	}}
}

// applyPatch applies a JSON, merge or strategic merge patch to current
// (JSON) and returns the patched JSON. schema is an empty object of the
// patched kind, for the strategic merge keys.
func applyPatch(pt types.PatchType, current, patch []byte, schema runtime.Object) (out []byte, err error) {
	// The patch libraries panic on some malformed patches (a JSON patch
	// "test" of the root, for one): those are the client's errors.
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, patchFailed(fmt.Errorf("unable to apply patch: %v", p))
		}
	}()
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
		}
		out, err := p.Apply(current)
		if err != nil {
			return nil, patchFailed(err)
		}
		return out, nil
	case types.MergePatchType:
		if !isJSONObject(patch) {
			return nil, apierrors.NewBadRequest("error decoding patch: the patch is not a JSON object")
		}
		out, err := jsonpatch.MergePatch(current, patch)
		if errors.Is(err, jsonpatch.ErrBadJSONPatch) {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if err != nil {
			return nil, patchFailed(err)
		}
		return out, nil
	case types.StrategicMergePatchType:
		if !isJSONObject(patch) {
			return nil, apierrors.NewBadRequest("error decoding patch: the patch is not a JSON object")
		}
		out, err := strategicpatch.StrategicMergePatch(current, patch, schema)
		switch {
		case err == nil:
		case apierrors.IsBadRequest(err):
			return nil, err
		case errors.Is(err, mergepatch.ErrBadJSONDoc), errors.Is(err, mergepatch.ErrBadPatchFormatForPrimitiveList),
			errors.Is(err, mergepatch.ErrBadPatchFormatForRetainKeys), errors.Is(err, mergepatch.ErrBadPatchFormatForSetElementOrderList),
			errors.Is(err, mergepatch.ErrUnsupportedStrategicMergePatchFormat):
			// Upstream's 400s for a patch that is not one.
			return nil, apierrors.NewBadRequest(err.Error())
		default:
			return nil, patchFailed(err)
		}
		return out, nil
	}
	return nil, errUnsupportedMediaType(string(pt))
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// handlePatch serves PATCH on an object or (with sub set) a subresource.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo, sub *subresourceOps) {
	t, ok := s.target(w, r)
	if !ok {
		return
	}
	pt, ok := patchTypeOf(r)
	if !ok {
		s.writeError(w, r, errUnsupportedMediaType(r.Header.Get("Content-Type")))
		return
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	patch, err := readBody(r)
	if err != nil {
		s.writeError(w, r, requestEntityTooLarge(err))
		return
	}
	if pt == types.StrategicMergePatchType && res.custom != nil {
		s.writeError(w, r, errUnsupportedMediaType(r.Header.Get("Content-Type")))
		return
	}
	if pt == types.ApplyYAMLPatchType || pt == types.ApplyCBORPatchType {
		s.handleApply(w, r, res, info, t, patch, opts, sub)
		return
	}
	if pt == types.StrategicMergePatchType || pt == types.MergePatchType {
		// Clients may send YAML; accept it like upstream.
		if j, err := yaml.YAMLToJSON(patch); err == nil {
			patch = j
		}
	}
	mutate := func(current runtime.Object) (runtime.Object, error) {
		view, gvk, newObj := current, res.gvk, res.New
		if sub != nil && sub.view != nil {
			view = sub.view(current)
			gvk = *sub.gvk
			newObj = sub.newView
		}
		cur, err := s.codecs.encode(target{media: mediaJSON}, view)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patched, err := applyPatch(pt, cur, patch, newObj())
		if err != nil {
			return nil, err
		}
		dec, _ := s.codecs.decoderFor(mediaJSON, opts.fieldValidation != "Ignore")
		into := newObj()
		obj, _, err := dec.Decode(patched, &gvk, into)
		if err != nil {
			if !runtime.IsStrictDecodingError(err) || obj == nil {
				return nil, patchFailed(err)
			}
			if err := unknownFields(w, err, opts.fieldValidation); err != nil {
				return nil, err
			}
		}
		setGVK(obj, gvk)
		if sub == nil || sub.gvk == nil {
			if err := s.checkUnknownFields(w, res, obj, opts.fieldValidation); err != nil {
				return nil, err
			}
		}
		if sub != nil && sub.fromRequest != nil {
			return sub.fromRequest(current, obj)
		}
		m := accessor(obj)
		if m.GetName() != info.name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), info.name))
		}
		return obj, nil
	}
	out, err := s.update(r.Context(), res, info, "", mutate, opts, sub)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if sub != nil && sub.toResponse != nil {
		s.writeObject(w, r, target{media: t.media, pretty: t.pretty}, http.StatusOK, sub.toResponse(out))
		return
	}
	s.writeRead(w, r, res, t, http.StatusOK, out)
}
