package openapi

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Media subtypes of the v2 document, as kube-openapi's handler names them.
const (
	v2ProtoSubtype           = "com.github.proto-openapi.spec.v2.v1.0+protobuf"
	v2ProtoSubtypeDeprecated = "com.github.proto-openapi.spec.v2@v1.0+protobuf"
)

// v2Service serves /openapi/v2 the way kube-openapi's pkg/handler does
// (JSON or protobuf by Accept, strong ETag, If-None-Match) without its gzip
// dependency, and keeps only the encoded bytes: the spec objects are
// garbage once marshalled.
type v2Service struct {
	build func() (*spec.Swagger, error)

	mu       sync.Mutex
	stale    bool
	json     []byte
	proto    []byte
	etag     string
	modified time.Time
}

func newV2Service(build func() (*spec.Swagger, error)) *v2Service {
	return &v2Service{build: build, stale: true}
}

// invalidate makes the next request rebuild the document.
func (v *v2Service) invalidate() {
	v.mu.Lock()
	v.stale = true
	v.json, v.proto = nil, nil
	v.mu.Unlock()
}

// get returns the document encoded as JSON or, when proto is set, protobuf.
func (v *v2Service) get(wantProto bool) ([]byte, string, time.Time, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stale {
		doc, err := v.build()
		if err != nil {
			return nil, "", time.Time{}, err
		}
		b, err := doc.MarshalJSON()
		if err != nil {
			return nil, "", time.Time{}, fmt.Errorf("marshal openapi v2: %w", err)
		}
		v.json, v.proto, v.stale = b, nil, false
		v.etag = fmt.Sprintf("%X", sha512.Sum512(b))
		v.modified = time.Now()
	}
	if !wantProto {
		return v.json, v.etag, v.modified, nil
	}
	if v.proto == nil {
		d, err := openapi_v2.ParseDocument(v.json)
		if err != nil {
			return nil, "", time.Time{}, fmt.Errorf("encode openapi v2 protobuf: %w", err)
		}
		if v.proto, err = proto.Marshal(d); err != nil {
			return nil, "", time.Time{}, fmt.Errorf("encode openapi v2 protobuf: %w", err)
		}
	}
	return v.proto, v.etag, v.modified, nil
}

func (v *v2Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		case v2ProtoSubtype, v2ProtoSubtypeDeprecated:
			wantProto = true
		default:
			continue
		}
		body, etag, modified, err := v.get(wantProto)
		if err != nil {
			slog.ErrorContext(r.Context(), "serve openapi v2", "err", err)
			http.Error(w, "openapi v2 unavailable", http.StatusServiceUnavailable)
			return
		}
		ct := "application/json"
		if wantProto {
			ct = "application/" + v2ProtoSubtype
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Etag", strconv.Quote(etag))
		http.ServeContent(w, r, V2Path, modified, bytes.NewReader(body))
		return
	}
	w.WriteHeader(http.StatusNotAcceptable)
}
