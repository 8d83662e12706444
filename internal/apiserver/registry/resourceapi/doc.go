// Package resourceapi holds the strategies of resource.k8s.io/v1, the API
// of dynamic resource allocation: deviceclasses, resourceclaims (with
// status), resourceclaimtemplates, resourceslices and devicetaintrules
// (with status). (It is not named "resource" so as not to be confused with
// apimachinery's quantities.)
//
// Defaults are upstream's v1 ones (an exact request asks for ExactCount 1,
// a taint is stamped with the time it was added); validation covers the
// structure upstream checks (request names, class names, the one node
// selection of a slice, taint effects, CEL selectors that must compile)
// with its field paths and messages. Claims' and templates' specs never
// change. skiff has no DRA scheduler or drivers: the objects are stored,
// listed and watched, nothing allocates them.
package resourceapi
