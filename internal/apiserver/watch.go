package apiserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"skiff/internal/apiserver/watchcache"
	"skiff/internal/storage"
)

// bookmarkInterval is how often a watch that allows bookmarks gets one.
const bookmarkInterval = 30 * time.Second

// handleWatch streams changes.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	t, ok := s.target(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	sel, err := parseSelectors(res, q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rv := q.Get("resourceVersion")
	var fromRev int64
	if rv != "" {
		fromRev, err = strconv.ParseInt(rv, 10, 64)
		if err != nil || fromRev < 0 {
			s.writeError(w, r, apierrors.NewBadRequest("invalid resource version "+strconv.Quote(rv)))
			return
		}
	}
	bookmarks := isTrue(q.Get("allowWatchBookmarks"))
	sendInitial := q.Has("sendInitialEvents") && isTrue(q.Get("sendInitialEvents"))
	if q.Has("sendInitialEvents") {
		if q.Get("resourceVersionMatch") != string(metav1.ResourceVersionMatchNotOlderThan) {
			s.writeError(w, r, apierrors.NewInvalid(metaGroupKind("ListOptions"), "", fieldErr("resourceVersionMatch",
				"sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")))
			return
		}
		if sendInitial && !bookmarks {
			s.writeError(w, r, apierrors.NewInvalid(metaGroupKind("ListOptions"), "", fieldErr("allowWatchBookmarks",
				"sendInitialEvents requires setting allowWatchBookmarks to true")))
			return
		}
	}
	timeout := time.Duration(1800+rand.IntN(1800)) * time.Second
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, apierrors.NewBadRequest("invalid timeoutSeconds"))
			return
		}
		timeout = time.Duration(n) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	// A watch "from now" (no resourceVersion and no initial events) starts
	// after the current state; "0" and sendInitialEvents start with it.
	var wantInitial bool
	switch {
	case sendInitial:
		wantInitial = true
	case q.Has("sendInitialEvents"):
		wantInitial = false
	case rv == "" || rv == "0":
		wantInitial = true
	}
	prefix := res.keyPrefix(info.namespace)
	if info.name != "" {
		prefix = res.key(info.namespace, info.name)
	}
	if sendInitial && fromRev > 0 {
		if !s.cache.WaitFresh(ctx, fromRev, freshnessTimeout) {
			s.writeError(w, r, apierrors.NewTimeoutError("Too large resource version", 1))
			return
		}
	}
	if (rv == "" || sendInitial) && fromRev == 0 {
		// A consistent start: the cache must have caught up with etcd, or
		// the client is told to retry rather than handed a stale snapshot.
		cur, err := s.cfg.Store.CurrentRevision(ctx)
		if err != nil {
			s.writeError(w, r, storeError(res, "", err))
			return
		}
		if !s.cache.WaitFresh(ctx, cur, freshnessTimeout) {
			s.writeError(w, r, apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", cur, s.cache.Revision()), 1))
			return
		}
	}
	var events *watchcache.Queue
	var initial []watchcache.Event
	var startRev int64
	var stop func()
	cacheFrom := fromRev
	if wantInitial {
		cacheFrom = 0
	} else if rv == "" {
		cacheFrom = s.cache.Revision()
	}
	cw, err := s.cache.Watch(res.bucket, prefix, cacheFrom)
	switch {
	case err == nil:
		events, initial, startRev, stop = cw.Queue, cw.Initial(), cw.StartRevision(), cw.Stop
		if !wantInitial && rv == "" {
			initial = nil
		}
	case errors.Is(err, watchcache.ErrTooOld):
		// Older than the cache's window: etcd may still have it.
		events, stop = s.watchStore(ctx, res, prefix, fromRev)
		startRev = fromRev
	default:
		s.writeError(w, r, apierrors.NewServiceUnavailable(err.Error()))
		return
	}
	defer stop()

	enc := s.newWatchEncoder(w, res, t, r.URL.Query().Get("includeObject"))
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Transfer-Encoding", "chunked")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	flush()
	// Started: as upstream, a watch holds its flow-control seat only
	// until then.
	releaseSeat(r.Context())
	send := func(e watchcache.Event) bool {
		// Field selectors name the fields of the served version: select
		// on the objects as served (a CRD's conversion webhook may move
		// fields between versions), as the list does.
		converted := !sel.field.Empty()
		if converted {
			var err error
			if e.Object, err = res.fromStorage(ctx, e.Object); err != nil {
				return false
			}
			if e.PrevObject != nil {
				if e.PrevObject, err = res.fromStorage(ctx, e.PrevObject); err != nil {
					return false
				}
			}
		}
		ev, ok := filterEvent(res, sel, e)
		if !ok {
			return true
		}
		obj := ev.Object
		if ev.Object == e.Object && enc.shareable() {
			// The event as the cache fanned it out: encoded once per
			// format for every watcher of this version.
			data, err := e.Encoded.Frame(watchFrameKey{ev.Type, enc.t.media, res.gvk}, func() ([]byte, error) {
				if !converted {
					var err error
					if obj, err = res.fromStorage(ctx, obj); err != nil {
						return nil, err
					}
				}
				return enc.frame(ev.Type, obj)
			})
			if err != nil {
				return false
			}
			_, err = w.Write(data)
			return err == nil
		}
		if !converted {
			var err error
			if obj, err = res.fromStorage(ctx, ev.Object); err != nil {
				return false
			}
		}
		if err := enc.encode(ev.Type, obj); err != nil {
			return false
		}
		return true
	}
	for _, e := range initial {
		if !send(e) {
			return
		}
	}
	lastRev := startRev
	if sendInitial {
		if err := enc.bookmark(lastRev, true); err != nil {
			return
		}
	}
	flush()
	var tick <-chan time.Time
	if bookmarks {
		ticker := time.NewTicker(bookmarkInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	var batch []watchcache.Event
	for {
		select {
		case <-ctx.Done():
			return
		case <-events.Notify():
			var open bool
			if batch, open = events.Take(batch); !open {
				return
			}
			for _, e := range batch {
				if e.Type == watch.Error {
					_ = enc.encodeStatus(apierrors.NewResourceExpired("The resourceVersion for the provided watch is too old."))
					return
				}
				if e.Rev <= lastRev && e.Rev != 0 {
					continue
				}
				lastRev = e.Rev
				if !send(e) {
					return
				}
			}
			// Flushed at once: a controller that acts on one resource's
			// event must find the changes before it in its other caches,
			// as soon as upstream's watches deliver them.
			flush()
		case <-tick:
			if cr := s.cache.Revision(); cr > lastRev && cw != nil {
				// Every change of this bucket up to cr has been delivered
				// once the queue is drained. A queue cut off for falling
				// behind holds nothing either, but what it dropped was
				// never sent: a bookmark at cr would have the client
				// resume after events it never saw.
				if events.Drained() {
					lastRev = cr
				}
			}
			if err := enc.bookmark(lastRev, false); err != nil {
				return
			}
			flush()
		}
	}
}

func metaGroupKind(kind string) schema.GroupKind {
	return schema.GroupKind{Group: "meta.k8s.io", Kind: kind}
}

func fieldErr(name, msg string) field.ErrorList {
	return field.ErrorList{field.Forbidden(field.NewPath(name), msg)}
}

// filterEvent applies selectors to an event the way upstream's watch cache
// does: an object that stops matching is reported Deleted, one that starts
// matching Added.
func filterEvent(res *resource, sel selectors, e watchcache.Event) (watchcache.Event, bool) {
	if sel.empty() {
		return e, true
	}
	cur := sel.matches(res, e.Object)
	prev := e.PrevObject != nil && sel.matches(res, e.PrevObject)
	switch e.Type {
	case watch.Added:
		return e, cur
	case watch.Deleted:
		if e.PrevObject != nil {
			return e, prev || cur
		}
		return e, cur
	case watch.Modified:
		switch {
		case cur && prev:
			return e, true
		case cur:
			e.Type = watch.Added
			return e, true
		case prev:
			obj := e.PrevObject.DeepCopyObject()
			accessor(obj).SetResourceVersion(strconv.FormatInt(e.Rev, 10))
			e.Type, e.Object = watch.Deleted, obj
			return e, true
		}
	}
	return e, false
}

// watchStoreBuffer is how far a client may fall behind a watch served from
// the store before it is cut off and resumes.
const watchStoreBuffer = 1000

// watchStore watches the store directly, for revisions the cache no longer holds.
func (s *Server) watchStore(ctx context.Context, res *resource, prefix string, fromRev int64) (*watchcache.Queue, func()) {
	wctx, cancel := context.WithCancel(ctx)
	out := watchcache.NewQueue(watchStoreBuffer)
	go func() {
		defer out.Close()
		for ev := range s.cfg.Store.Watch(wctx, prefix, fromRev) {
			var e watchcache.Event
			if ev.Err != nil {
				e.Type = watch.Error
			} else {
				e.Key, e.Rev = ev.KV.Key, ev.KV.ModRevision
				var err error
				switch ev.Type {
				case storage.EventPut:
					e.Type = watch.Modified
					if ev.PrevKV == nil {
						e.Type = watch.Added
					} else if e.PrevObject, err = s.decodeStored(ev.PrevKV.Key, ev.PrevKV.Value, ev.PrevKV.ModRevision); err != nil {
						continue
					}
					e.Object, err = s.decodeStored(ev.KV.Key, ev.KV.Value, ev.KV.ModRevision)
				case storage.EventDelete:
					e.Type = watch.Deleted
					if ev.PrevKV != nil {
						e.Object, err = s.decodeStored(ev.KV.Key, ev.PrevKV.Value, ev.KV.ModRevision)
					}
				}
				if err != nil || e.Object == nil {
					continue
				}
			}
			if !out.Push(e) {
				return
			}
			if ev.Err != nil {
				return
			}
		}
	}()
	return out, cancel
}

// watchEncoder writes watch events in the negotiated framing.
type watchEncoder struct {
	s       *Server
	w       http.ResponseWriter
	res     *resource
	t       target
	include string
	columns bool
}

func (s *Server) newWatchEncoder(w http.ResponseWriter, res *resource, t target, include string) *watchEncoder {
	if t.media == mediaYAML {
		t.media = mediaJSON
	}
	return &watchEncoder{s: s, w: w, res: res, t: t, include: include}
}

func (e *watchEncoder) contentType() string {
	if e.t.media == mediaProtobuf && e.t.as == "" {
		return mediaProtobuf + ";stream=watch"
	}
	if e.t.as != "" {
		return mediaJSON + ";as=" + e.t.as + ";g=meta.k8s.io;v=v1"
	}
	return mediaJSON
}

func (e *watchEncoder) encode(typ watch.EventType, obj runtime.Object) error {
	var out runtime.Object = obj
	switch e.t.as {
	case "Table":
		table := e.s.toTable(e.res, []runtime.Object{obj}, e.include, true)
		if e.columns {
			table.ColumnDefinitions = nil
		}
		e.columns = true
		out = table
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		out = partialMetadata(obj)
	}
	return e.write(typ, out)
}

// watchFrameKey names one wire form of an event: its type as sent, the
// framing, and the version it is served in.
type watchFrameKey struct {
	typ   watch.EventType
	media string
	gvk   schema.GroupVersionKind
}

// shareable: the encoder sends whole objects in plain framing, the same
// bytes for every watcher of one version and format.
func (e *watchEncoder) shareable() bool { return e.t.as == "" }

func (e *watchEncoder) write(typ watch.EventType, obj runtime.Object) error {
	data, err := e.frame(typ, obj)
	if err != nil {
		return err
	}
	_, err = e.w.Write(data)
	return err
}

// frame encodes one event as it goes on the wire: a length-prefixed
// protobuf WatchEvent, or a line of JSON.
func (e *watchEncoder) frame(typ watch.EventType, obj runtime.Object) ([]byte, error) {
	media := e.t.media
	if e.t.as != "" {
		media = mediaJSON
	}
	data, err := e.s.codecs.encode(target{media: media}, obj)
	if err != nil {
		return nil, err
	}
	if media == mediaProtobuf {
		ev := &metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: data}}
		out := make([]byte, 4+ev.Size())
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := ev.MarshalToSizedBuffer(out[4:]); err != nil {
			return nil, err
		}
		return out, nil
	}
	line, err := json.Marshal(&metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: bytes.TrimSpace(data)}})
	if err != nil {
		return nil, err
	}
	return append(line, '\n'), nil
}

// bookmark sends a BOOKMARK: an empty object of the kind carrying only the
// resourceVersion (and the end-of-initial-events annotation).
func (e *watchEncoder) bookmark(rev int64, initialEnd bool) error {
	obj := e.res.New()
	setGVK(obj, e.res.gvk)
	m := accessor(obj)
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	if initialEnd {
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	switch e.t.as {
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		// Metadata-only clients know no other kinds.
		return e.write(watch.Bookmark, partialMetadata(obj))
	}
	return e.write(watch.Bookmark, obj)
}

func (e *watchEncoder) encodeStatus(err apierrors.APIStatus) error {
	st := err.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	return e.write(watch.Error, &st)
}
