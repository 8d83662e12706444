// Package conversion converts custom objects between the versions of a
// CustomResourceDefinition whose spec.conversion.strategy is Webhook: the
// objects that are not at the desired version go, in one
// apiextensions.k8s.io ConversionReview, to the CRD's conversion webhook,
// and the answer is checked as upstream checks it before its objects are
// used.
//
//	objects ──► those not at desiredAPIVersion ──► ConversionReview{uid, desiredAPIVersion, objects}
//	        ──► POST (webhookclient) ──► response: same uid, Success, one object per object,
//	            each at desiredAPIVersion with its kind, name, namespace and uid
//	        ──► metadata kept from the input but labels and annotations
//
// The None strategy never comes here: the API server rewrites apiVersion
// itself. Callers wrap errors into a 500 (Internal error) as upstream does.
package conversion
