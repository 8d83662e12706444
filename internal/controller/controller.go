package controller

import (
	"context"
	"log/slog"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
)

// Controller is one reconciling loop.
type Controller interface {
	// Run starts workers goroutines and blocks until ctx is done; it
	// returns only after they have stopped. The informers it registered in
	// its constructor are started by the manager before Run is called.
	Run(ctx context.Context, workers int) error
}

// Context is what the manager gives every controller's constructor.
type Context struct {
	// Client is a typed client for the API server.
	Client kubernetes.Interface
	// Dynamic and Metadata reach any resource (the garbage collector and
	// the namespace controller work across all of them).
	Dynamic  dynamic.Interface
	Metadata metadata.Interface
	// Informers is the shared informer factory: get informers from it in
	// the constructor so that the manager starts and syncs them.
	Informers informers.SharedInformerFactory
	// MetadataInformers watches resources as metadata only.
	MetadataInformers metadatainformer.SharedInformerFactory
	// Events records Kubernetes events for the controller's objects.
	Events events.EventRecorder
	// Clock is the time source; fake in tests.
	Clock clock.WithTicker
	// Logger logs at the loop boundary.
	Logger *slog.Logger
}

// Constructor builds one controller from the shared context.
type Constructor func(ctx Context) (Controller, error)

// ObjectInformers hands out an informer for any resource, for controllers
// that need only objects' metadata (the garbage collector, quota counts).
// A resource the typed factory knows is watched through it, so that the
// controllers share one watch and one cache of it, as upstream's
// controller manager does; any other (custom resources) is watched as
// metadata only.
type ObjectInformers struct {
	Typed    informers.SharedInformerFactory
	Metadata metadatainformer.SharedInformerFactory
}

// ObjectInformers returns the context's informers for metadata-only use.
func (cc Context) ObjectInformers() ObjectInformers {
	return ObjectInformers{Typed: cc.Informers, Metadata: cc.MetadataInformers}
}

// ForResource returns the shared informer for gvr. Its objects implement
// metav1.Object.
func (f ObjectInformers) ForResource(gvr schema.GroupVersionResource) informers.GenericInformer {
	if inf, err := f.Typed.ForResource(gvr); err == nil {
		return inf
	}
	return f.Metadata.ForResource(gvr)
}

// Start starts the informers handed out since the last Start.
func (f ObjectInformers) Start(stop <-chan struct{}) {
	f.Typed.Start(stop)
	f.Metadata.Start(stop)
}
