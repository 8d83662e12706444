package apiserver

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// Media types the API server speaks.
const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// codecs holds one serializer per media type, all over the same scheme.
// Encoders never set or change an object's TypeMeta: callers set it first
// (cached objects carry theirs), so shared objects are never written to.
type codecs struct {
	scheme     *runtime.Scheme
	json       *json.Serializer
	jsonPretty *json.Serializer
	jsonStrict *json.Serializer
	yaml       *json.Serializer
	yamlStrict *json.Serializer
	protobuf   *protobuf.Serializer
}

func newCodecs(scheme *runtime.Scheme) *codecs {
	mf := json.DefaultMetaFactory
	return &codecs{
		scheme:     scheme,
		json:       json.NewSerializerWithOptions(mf, scheme, scheme, json.SerializerOptions{}),
		jsonPretty: json.NewSerializerWithOptions(mf, scheme, scheme, json.SerializerOptions{Pretty: true}),
		jsonStrict: json.NewSerializerWithOptions(mf, scheme, scheme, json.SerializerOptions{Strict: true}),
		yaml:       json.NewSerializerWithOptions(mf, scheme, scheme, json.SerializerOptions{Yaml: true}),
		yamlStrict: json.NewSerializerWithOptions(mf, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true}),
		protobuf:   protobuf.NewSerializer(scheme, scheme),
	}
}

// target is what the client asked the response to be.
type target struct {
	media string // mediaJSON, mediaYAML or mediaProtobuf
	// as is "", "Table", "PartialObjectMetadata" or "PartialObjectMetadataList".
	as     string
	pretty bool
}

// negotiate picks the response format from the Accept header. It returns
// false when nothing acceptable is offered (406).
func negotiate(r *http.Request) (target, bool) {
	accept := r.Header.Get("Accept")
	pretty := r.URL.Query().Get("pretty") == "true" || r.URL.Query().Get("pretty") == "1"
	if accept == "" {
		return target{media: mediaJSON, pretty: pretty}, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		var media string
		switch mt {
		case mediaJSON, "application/*", "*/*", "application/json-patch+json":
			media = mediaJSON
		case mediaYAML, "application/x-yaml", "text/yaml":
			media = mediaYAML
		case mediaProtobuf:
			media = mediaProtobuf
		default:
			continue
		}
		as := params["as"]
		if as != "" {
			g, v := params["g"], params["v"]
			if g != metav1.GroupName || (v != "v1" && v != "v1beta1") {
				continue
			}
			switch as {
			case "Table", "PartialObjectMetadata", "PartialObjectMetadataList":
			default:
				continue
			}
			if v == "v1beta1" {
				// Only v1 is served; clients offering v1beta1 offer v1 as well.
				continue
			}
			if media == mediaYAML {
				continue
			}
		}
		return target{media: media, as: as, pretty: pretty}, true
	}
	return target{}, false
}

// contentType returns the Content-Type header for t.
func (t target) contentType() string {
	if t.as != "" {
		return t.media + ";as=" + t.as + ";g=meta.k8s.io;v=v1"
	}
	return t.media
}

// encoder returns the serializer that writes t.media.
func (c *codecs) encoder(t target) runtime.Encoder {
	switch t.media {
	case mediaYAML:
		return c.yaml
	case mediaProtobuf:
		return c.protobuf
	default:
		if t.pretty {
			return c.jsonPretty
		}
		return c.json
	}
}

// encode writes obj in t's format; obj must carry its TypeMeta.
func (c *codecs) encode(t target, obj runtime.Object) ([]byte, error) {
	var buf bytes.Buffer
	enc := c.encoder(t)
	if t.media == mediaProtobuf {
		if _, ok := obj.(runtime.ProtobufMarshaller); !ok {
			// Tables and other types without protobuf go out as JSON, as upstream does.
			enc = c.json
		}
	}
	if err := enc.Encode(obj, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decoderFor returns the deserializer for a request Content-Type, and
// whether it is known.
func (c *codecs) decoderFor(contentType string, strict bool) (runtime.Decoder, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = contentType
	}
	switch mt {
	case mediaJSON, "":
		if strict {
			return c.jsonStrict, true
		}
		return c.json, true
	case mediaYAML, "application/x-yaml", "text/yaml":
		if strict {
			return c.yamlStrict, true
		}
		return c.yaml, true
	case mediaProtobuf:
		return c.protobuf, true
	}
	return nil, false
}

// maxBodyBytes caps request bodies, as upstream's 3 MiB limit does.
const maxBodyBytes = 3 * 1024 * 1024

// errBodyTooLarge is returned by readBody for bodies over maxBodyBytes.
// The message is upstream's ("Request entity too large: limit is 3145728").
var errBodyTooLarge = fmt.Errorf("limit is %d", maxBodyBytes)

// readBody reads at most maxBodyBytes of the request body.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBodyBytes {
		return nil, errBodyTooLarge
	}
	return data, nil
}

// setGVK stamps obj with gvk; used on objects the server owns (fresh decodes,
// copies), never on shared cached ones.
func setGVK(obj runtime.Object, gvk schema.GroupVersionKind) {
	obj.GetObjectKind().SetGroupVersionKind(gvk)
}
