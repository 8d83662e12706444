// Package scheduling holds the strategy of scheduling.k8s.io/v1
// priorityclasses: defaults, the reserved system- names and value ranges,
// and the immutability of value and preemptionPolicy.
package scheduling
