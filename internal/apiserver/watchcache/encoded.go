package watchcache

import "sync"

// Encoded holds the wire forms of one event, so that the watchers it fans
// out to encode it once per format between them and share the bytes.
type Encoded struct {
	mu     sync.Mutex
	frames []frame
}

type frame struct {
	key  any
	data []byte
}

// Frame returns the bytes kept under key, calling encode to make them the
// first time. Concurrent callers of one key wait for the first one's
// encoding rather than repeat it. A failed encoding is not kept.
func (e *Encoded) Frame(key any, encode func() ([]byte, error)) ([]byte, error) {
	if e == nil {
		return encode()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range e.frames {
		if f.key == key {
			return f.data, nil
		}
	}
	data, err := encode()
	if err != nil {
		return nil, err
	}
	e.frames = append(e.frames, frame{key: key, data: data})
	return data, nil
}
