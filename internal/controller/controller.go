package controller

import (
	"context"
	"log/slog"

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
