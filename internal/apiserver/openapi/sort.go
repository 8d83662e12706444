package openapi

import "sort"

func sortGroups(gs []*groupVersion) {
	sort.Slice(gs, func(i, j int) bool {
		a, b := gs[i].gv, gs[j].gv
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Version < b.Version
	})
}
