// Package resourcequota keeps ResourceQuota status.used current: for every
// resource named in spec.hard it counts what the namespace holds, as
// upstream's quota evaluators do:
//
//	pods, count/pods            non-terminal pods
//	requests.cpu|memory|ephemeral-storage, cpu, memory, limits.*
//	                            summed over non-terminal pods, each pod the
//	                            larger of its containers' sum and its
//	                            largest init container, plus overhead
//	services, services.loadbalancers, services.nodeports
//	configmaps, secrets, replicationcontrollers, resourcequotas
//	persistentvolumeclaims, requests.storage
//	count/<resource>[.<group>]  objects of any resource, via metadata
//
// Pod scopes Terminating, NotTerminating, BestEffort and NotBestEffort
// filter the pods counted. Each quota is resynced when objects in its
// namespace change and every five minutes.
package resourcequota
