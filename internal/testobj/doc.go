// Package testobj builds API objects for tests:
//
//	testobj.Pod("web-0").Node("n1").Req("cpu", "100m").Obj()
//	testobj.Node("n1").Capacity("4", "8Gi").Label("zone", "a").Ready().Obj()
//
// Each builder starts from the smallest object the API server accepts
// (namespace "default", one container of image testobj.Image), each method
// changes one thing and returns the builder, and Obj returns the object.
// A builder is not reused after Obj.
package testobj
