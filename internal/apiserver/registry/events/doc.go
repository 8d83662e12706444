// Package events holds events.k8s.io/v1 events. They share storage with
// core/v1 events: the Resource names {"" v1 events} as its storage and
// converts field by field the way upstream does (note <-> message,
// regarding <-> involvedObject, deprecatedSource/FirstTimestamp/
// LastTimestamp/Count <-> source/firstTimestamp/lastTimestamp/count, the
// rest by name). Its table is kubectl's event table, as upstream serves for
// both versions.
package events
