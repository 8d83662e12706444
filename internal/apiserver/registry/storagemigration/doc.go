// Package storagemigration holds the strategy of storagemigration.k8s.io/v1
// storageversionmigrations (cluster-scoped, with status): a migration names
// a group and resource whose stored objects the storage version migrator
// controller rewrites.
//
// As upstream: spec.resource.resource is a required DNS-1035 label and
// spec.resource.group, when set, a DNS subdomain; the spec never changes
// after create; a create starts with an empty status and only /status
// writes it. A /status write keeps the spec and the metadata
// (ResetObjectMetaForStatus); its conditions must be valid and unique by
// type, status.resourceVersion must be well formed and, once set, never
// changes; Succeeded and Failed may not both be True, and once True
// neither goes away or turns False.
package storagemigration
