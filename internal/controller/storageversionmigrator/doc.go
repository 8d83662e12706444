// Package storageversionmigrator runs StorageVersionMigrations
// (storagemigration.k8s.io/v1): it rewrites every stored object of the
// named resource, so that each is stored again in the API server's current
// encoding and storage version, as upstream's storage version migrator
// (kube-controller-manager's "svm") does with its three controllers, here
// one loop keyed by the migration's name whose steps are:
//
//  1. Start: of the migrations of one group and resource, one runs at a
//     time, the oldest first; it gets Running=True. A custom resource's
//     CRD gets StorageMigrating=True, recording the CRD's generation.
//  2. Checkpoint: the resource is looked up in discovery (a resource not
//     served yet is looked for again during the minute after the
//     migration's creation, then the migration Fails) and must allow
//     list, update and patch; the resourceVersion of a consistent list of
//     it goes to status.resourceVersion.
//  3. Migrate: every object of a fresh list whose resourceVersion is at
//     most that checkpoint gets a merge patch that changes nothing but
//     carries its resourceVersion as a precondition. The API server
//     writes it only if its stored bytes differ from what it encodes now,
//     so this re-encodes exactly the objects stored in an older form. A
//     conflict or a NotFound means the object was written or removed
//     after the list, so it is already stored anew and counts as done;
//     a transient error (timeouts, 429, 5xx) is retried with the
//     loop's back-off and noted in the Running message; any other error
//     Fails the migration. Then Succeeded=True, with the Running message
//     counting the objects verified.
//  4. Finish: a Succeeded or Failed migration's Running turns False
//     (MigrationCompleted), and the CRD's StorageMigrating turns False;
//     after a success, if the CRD's generation did not change meanwhile,
//     its status.storedVersions becomes the storage version alone.
//     (Upstream trims storedVersions after a failure too; skiff does not,
//     since objects may still be stored in the old versions.)
//
// Status writes read the migration again and retry on conflict, so they
// coexist with other writers of the status (the CRUD conformance spec
// writes conditions of its own).
package storageversionmigrator
