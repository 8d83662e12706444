package encryption

import (
	"errors"
	"fmt"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// encryptedObject is upstream's KMS v2 EncryptedObject
// (apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2/api.proto): what
// follows the "k8s:enc:kms:v2:<name>:" prefix of a stored value, in
// protobuf. Field numbers are upstream's.
type encryptedObject struct {
	encryptedData      []byte            // 1
	keyID              string            // 2
	encryptedDEKSource []byte            // 3
	annotations        map[string][]byte // 4, map<string, bytes>
	dekSourceType      dekSourceType     // 5
}

// dekSourceType is upstream's EncryptedDEKSourceType.
type dekSourceType int32

const (
	// dekAESGCMKey: the plaintext of encryptedDEKSource is the AES-GCM key.
	dekAESGCMKey dekSourceType = 0
	// dekHKDFSeed: it is a seed; each value's key is HKDF-SHA256 of the
	// seed with the first 32 bytes of encryptedData as info.
	dekHKDFSeed dekSourceType = 1
)

// Upstream's limits on the parts of an EncryptedObject.
const (
	maxKeyIDSize        = 1024
	maxEncryptedDEKSize = 1024
	maxAnnotationsSize  = 32 * 1024
)

func (o *encryptedObject) validate() error {
	switch {
	case o.dekSourceType != dekAESGCMKey && o.dekSourceType != dekHKDFSeed:
		return fmt.Errorf("unknown encryptedDEKSourceType %d", o.dekSourceType)
	case len(o.encryptedData) == 0:
		return errors.New("encrypted data is empty")
	case len(o.encryptedDEKSource) == 0:
		return errors.New("encrypted DEK source is empty")
	case len(o.encryptedDEKSource) > maxEncryptedDEKSize:
		return fmt.Errorf("encrypted DEK source is %d bytes, more than %d", len(o.encryptedDEKSource), maxEncryptedDEKSize)
	}
	if err := validateKeyID(o.keyID); err != nil {
		return err
	}
	return validateAnnotations(o.annotations)
}

func validateKeyID(id string) error {
	if id == "" {
		return errors.New("key ID is empty")
	}
	if len(id) > maxKeyIDSize {
		return fmt.Errorf("key ID is %d bytes, more than %d", len(id), maxKeyIDSize)
	}
	return nil
}

func validateAnnotations(a map[string][]byte) error {
	n := 0
	for k, v := range a {
		n += len(k) + len(v)
	}
	if n > maxAnnotationsSize {
		return fmt.Errorf("annotations are %d bytes, more than %d", n, maxAnnotationsSize)
	}
	return nil
}

// marshal encodes o as upstream's proto3 message would be; map entries are
// sorted by key so the output is deterministic.
func (o *encryptedObject) marshal() []byte {
	var b []byte
	if len(o.encryptedData) > 0 {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, o.encryptedData)
	}
	if o.keyID != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, o.keyID)
	}
	if len(o.encryptedDEKSource) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, o.encryptedDEKSource)
	}
	keys := make([]string, 0, len(o.annotations))
	for k := range o.annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, o.annotations[k])
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, entry)
	}
	if o.dekSourceType != 0 {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(o.dekSourceType))
	}
	return b
}

// unmarshalEncryptedObject decodes and validates an EncryptedObject.
// Unknown fields are skipped, as protobuf does; lengths are checked
// against the input, so a corrupt value cannot make it allocate.
func unmarshalEncryptedObject(b []byte) (*encryptedObject, error) {
	o := &encryptedObject{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("encrypted object: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			o.encryptedData, n = protowire.ConsumeBytes(b)
		case num == 2 && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			o.keyID = string(v)
		case num == 3 && typ == protowire.BytesType:
			o.encryptedDEKSource, n = protowire.ConsumeBytes(b)
		case num == 4 && typ == protowire.BytesType:
			var entry []byte
			entry, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				k, v, err := unmarshalMapEntry(entry)
				if err != nil {
					return nil, err
				}
				if o.annotations == nil {
					o.annotations = map[string][]byte{}
				}
				o.annotations[k] = v
			}
		case num == 5 && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			o.dekSourceType = dekSourceType(int32(v))
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, fmt.Errorf("encrypted object: field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("encrypted object: %w", err)
	}
	return o, nil
}

func unmarshalMapEntry(b []byte) (string, []byte, error) {
	var (
		key   string
		value []byte
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", nil, fmt.Errorf("encrypted object: annotation: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			key = string(v)
		case num == 2 && typ == protowire.BytesType:
			value, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return "", nil, fmt.Errorf("encrypted object: annotation: %w", protowire.ParseError(n))
		}
		b = b[n:]
	}
	return key, value, nil
}
