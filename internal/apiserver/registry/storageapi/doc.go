// Package storageapi holds the strategies of storage.k8s.io/v1:
// storageclasses, csidrivers, csinodes, volumeattachments,
// csistoragecapacities and volumeattributesclasses. (It is not named
// "storage" so as not to be confused with skiff's object store.)
package storageapi
