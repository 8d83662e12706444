package openapi

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/munnerz/goautoneg"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
)

// Media subtypes of v3 documents, as kube-openapi's handler3 names them.
const (
	v3ProtoSubtype           = "com.github.proto-openapi.spec.v3.v1.0+protobuf"
	v3ProtoSubtypeDeprecated = "com.github.proto-openapi.spec.v3@v1.0+protobuf"
)

// v3Cached is how many group versions keep their encoded documents; the
// others keep only their hash and are rebuilt (deterministically) when
// asked for. The index needs every hash, so keeping every document, as
// handler3 does with the spec objects too, would cost ~18 MiB.
const v3Cached = 3

// v3Service serves /openapi/v3 and /openapi/v3/<group version> with
// handler3's protocol: an index of server-relative URLs carrying each
// document's hash, documents as JSON or protobuf by Accept, ETags, and
// immutable caching when the request's hash matches.
type v3Service struct {
	mu     sync.Mutex
	groups map[string]*v3Group
	tick   uint64
	index  []byte
	etag   string
	mod    time.Time
}

type v3Group struct {
	build func() (*spec3.OpenAPI, error)
	hash  string // empty until first built
	json  []byte // nil when evicted
	proto []byte
	mod   time.Time
	used  uint64
}

func newV3Service() *v3Service {
	return &v3Service{groups: map[string]*v3Group{}}
}

// set adds or replaces the group version key.
func (v *v3Service) set(key string, build func() (*spec3.OpenAPI, error)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.groups[key] = &v3Group{build: build}
	v.index = nil
}

// remove stops serving key.
func (v *v3Service) remove(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.groups, key)
	v.index = nil
}

// loadLocked makes sure g's JSON is present and returns it.
func (v *v3Service) loadLocked(key string, g *v3Group) error {
	v.tick++
	g.used = v.tick
	if g.json != nil {
		return nil
	}
	doc, err := g.build()
	if err != nil {
		return err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("marshal openapi v3 %s: %w", key, err)
	}
	hash := fmt.Sprintf("%X", sha512.Sum512(b))
	if g.hash != "" && g.hash != hash {
		// Not expected: documents are deterministic. Clients holding the
		// old URL are redirected to the new one.
		v.index = nil
	}
	if g.hash != hash || g.mod.IsZero() {
		g.mod = time.Now()
	}
	g.hash, g.json, g.proto = hash, b, nil
	v.evictLocked()
	return nil
}

// evictLocked drops the encoded documents of all but the v3Cached most
// recently used groups.
func (v *v3Service) evictLocked() {
	var held []*v3Group
	for _, g := range v.groups {
		if g.json != nil {
			held = append(held, g)
		}
	}
	if len(held) <= v3Cached {
		return
	}
	sort.Slice(held, func(i, j int) bool { return held[i].used > held[j].used })
	for _, g := range held[v3Cached:] {
		g.json, g.proto = nil, nil
	}
}

func (v *v3Service) indexLocked() ([]byte, string, time.Time, error) {
	if v.index != nil {
		return v.index, v.etag, v.mod, nil
	}
	d := handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}
	keys := make([]string, 0, len(v.groups))
	for k := range v.groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := v.groups[k]
		if g.hash == "" {
			if err := v.loadLocked(k, g); err != nil {
				return nil, "", time.Time{}, err
			}
		}
		d.Paths[k] = handler3.OpenAPIV3DiscoveryGroupVersion{ServerRelativeURL: relativeURL(k, g.hash)}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("marshal openapi v3 index: %w", err)
	}
	v.index, v.etag, v.mod = b, fmt.Sprintf("%X", sha512.Sum512(b)), time.Now()
	return v.index, v.etag, v.mod, nil
}

func relativeURL(key, hash string) string {
	u := url.URL{Path: path.Join(V3Path, key), RawQuery: url.Values{"hash": {hash}}.Encode()}
	return u.String()
}

func (v *v3Service) has(key string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.groups[key]
	return ok
}

// serveIndex answers /openapi/v3.
func (v *v3Service) serveIndex(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	body, etag, mod, err := v.indexLocked()
	v.mu.Unlock()
	if err != nil {
		slog.ErrorContext(r.Context(), "serve openapi v3 index", "err", err)
		http.Error(w, "openapi v3 unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Etag", strconv.Quote(etag))
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, V3Path, mod, bytes.NewReader(body))
}

// get returns key's document, encoded as asked.
func (v *v3Service) get(key string, wantProto bool) (body []byte, hash string, mod time.Time, found bool, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	g, ok := v.groups[key]
	if !ok {
		return nil, "", time.Time{}, false, nil
	}
	if err := v.loadLocked(key, g); err != nil {
		return nil, "", time.Time{}, true, err
	}
	if !wantProto {
		return g.json, g.hash, g.mod, true, nil
	}
	if g.proto == nil {
		if g.proto, err = handler3.ToV3ProtoBinary(g.json); err != nil {
			return nil, "", time.Time{}, true, fmt.Errorf("encode openapi v3 %s protobuf: %w", key, err)
		}
	}
	return g.proto, g.hash, g.mod, true, nil
}

// serveGroup answers /openapi/v3/<key>.
func (v *v3Service) serveGroup(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, V3Path+"/")
	if !v.has(key) {
		http.NotFound(w, r)
		return
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	w.Header().Add("Vary", "Accept")
	for _, c := range goautoneg.ParseAccept(accept) {
		if c.Type != "application" && c.Type != "*" {
			continue
		}
		var wantProto bool
		switch c.SubType {
		case "json", "*":
		case v3ProtoSubtype, v3ProtoSubtypeDeprecated:
			wantProto = true
		default:
			continue
		}
		body, hash, mod, found, err := v.get(key, wantProto)
		if !found {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			slog.ErrorContext(r.Context(), "serve openapi v3", "groupVersion", key, "err", err)
			http.Error(w, "openapi v3 unavailable", http.StatusServiceUnavailable)
			return
		}
		ct := "application/json"
		if wantProto {
			ct = "application/" + v3ProtoSubtype
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Etag", strconv.Quote(hash))
		if h := r.URL.Query().Get("hash"); h != "" {
			if h != hash {
				http.Redirect(w, r, relativeURL(key, hash), http.StatusMovedPermanently)
				return
			}
			// The URL names this exact document: it never changes.
			w.Header().Set("Cache-Control", "public, immutable")
			w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).Format(time.RFC1123))
		}
		http.ServeContent(w, r, "", mod, bytes.NewReader(body))
		return
	}
	w.WriteHeader(http.StatusNotAcceptable)
}
