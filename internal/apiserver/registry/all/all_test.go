package all

import (
	"slices"
	"testing"
)

// TestSubresourceUpdates checks that every resource with a status
// subresource says how /status updates it, and that every subresource
// update belongs to a served subresource.
func TestSubresourceUpdates(t *testing.T) {
	for _, r := range Resources() {
		gvr := r.GroupVersionResource()
		if r.HasSubresource("status") {
			if _, ok := r.Strategy.SubresourceUpdates["status"]; !ok {
				t.Errorf("%s: status subresource without SubresourceUpdates[\"status\"]", gvr)
			}
		}
		for name := range r.Strategy.SubresourceUpdates {
			if !slices.Contains(r.Subresources, name) {
				t.Errorf("%s: SubresourceUpdates[%q] for a subresource it does not serve", gvr, name)
			}
		}
	}
}
