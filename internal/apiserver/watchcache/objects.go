package watchcache

import (
	"sort"
	"strings"
)

// objectSet holds a bucket's live objects grouped by key directory (one
// group per namespace for namespaced resources), so that reading one
// namespace costs what is in it rather than what is in the whole bucket.
type objectSet struct {
	dirs map[string]map[string]Entry
	n    int
}

func newObjectSet() *objectSet { return &objectSet{dirs: map[string]map[string]Entry{}} }

// dirOf is the key up to and including its last slash.
func dirOf(key string) string {
	return key[:strings.LastIndexByte(key, '/')+1]
}

func (s *objectSet) get(key string) (Entry, bool) {
	e, ok := s.dirs[dirOf(key)][key]
	return e, ok
}

func (s *objectSet) set(key string, e Entry) {
	d := dirOf(key)
	m := s.dirs[d]
	if m == nil {
		m = map[string]Entry{}
		s.dirs[d] = m
	}
	if _, ok := m[key]; !ok {
		s.n++
	}
	m[key] = e
}

func (s *objectSet) del(key string) {
	d := dirOf(key)
	m := s.dirs[d]
	if _, ok := m[key]; !ok {
		return
	}
	delete(m, key)
	s.n--
	if len(m) == 0 {
		delete(s.dirs, d)
	}
}

// collect returns the entries whose keys start with prefix, unsorted.
func (s *objectSet) collect(prefix string) []Entry {
	if strings.HasSuffix(prefix, "/") {
		if m, ok := s.dirs[prefix]; ok {
			out := make([]Entry, 0, len(m))
			for _, e := range m {
				out = append(out, e)
			}
			return out
		}
	} else if m, ok := s.dirs[dirOf(prefix)]; ok {
		var out []Entry
		for k, e := range m {
			if strings.HasPrefix(k, prefix) {
				out = append(out, e)
			}
		}
		return out
	}
	var out []Entry
	for d, m := range s.dirs {
		if !strings.HasPrefix(d, prefix) && !strings.HasPrefix(prefix, d) {
			continue
		}
		for k, e := range m {
			if strings.HasPrefix(k, prefix) {
				out = append(out, e)
			}
		}
	}
	return out
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Key < es[j].Key })
}
