package network

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"

	v1 "k8s.io/api/core/v1"
)

// RouteProtocol tags the routes skiff owns (`proto 73`), so a sync lists
// and removes only those and leaves every other route alone.
const RouteProtocol = 73

// Route is one route skiff keeps in the main table.
type Route struct {
	// Dst is the destination: another node's podCIDR, or the whole
	// cluster CIDR.
	Dst netip.Prefix
	// Via is the next hop, the other node's InternalIP (host-gw). The
	// zero value makes the route unreachable: a catch-all for the cluster
	// CIDR, so that pod traffic without a node never takes the default
	// route out of the host.
	Via netip.Addr
}

func (r Route) String() string {
	if !r.Via.IsValid() {
		return "unreachable " + r.Dst.String()
	}
	return r.Dst.String() + " via " + r.Via.String()
}

// DesiredRoutes returns the routes node self needs: one per other node
// that has an IPv4 podCIDR and an InternalIP, and an unreachable route for
// clusterCIDR when it is valid. The result is sorted by destination.
func DesiredRoutes(self string, clusterCIDR netip.Prefix, nodes []*v1.Node) []Route {
	var out []Route
	if clusterCIDR.IsValid() {
		out = append(out, Route{Dst: clusterCIDR.Masked()})
	}
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		dst, err := netip.ParsePrefix(n.Spec.PodCIDR)
		if err != nil || !dst.Addr().Is4() {
			continue
		}
		var via netip.Addr
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); a.Type == v1.NodeInternalIP && err == nil && ip.Is4() {
				via = ip
				break
			}
		}
		if via.IsValid() {
			out = append(out, Route{Dst: dst.Masked(), Via: via})
		}
	}
	slices.SortFunc(out, func(a, b Route) int {
		return cmp.Or(a.Dst.Addr().Compare(b.Dst.Addr()), a.Dst.Bits()-b.Dst.Bits())
	})
	return slices.CompactFunc(out, func(a, b Route) bool { return a.Dst == b.Dst })
}

// DiffRoutes returns the routes to replace (new or with another next hop)
// and the ones to delete to turn current into desired.
func DiffRoutes(current, desired []Route) (replace, remove []Route) {
	have := map[netip.Prefix]Route{}
	for _, r := range current {
		have[r.Dst] = r
	}
	want := map[netip.Prefix]bool{}
	for _, r := range desired {
		want[r.Dst] = true
		if cur, ok := have[r.Dst]; !ok || cur != r {
			replace = append(replace, r)
		}
	}
	for _, r := range current {
		if !want[r.Dst] {
			remove = append(remove, r)
		}
	}
	return replace, remove
}

// RouterConfig configures a Router.
type RouterConfig struct {
	// NodeName is this node, whose own podCIDR is the bridge's business.
	NodeName string
	// ClusterCIDR, when valid, gets an unreachable route.
	ClusterCIDR netip.Prefix
	// Netns, when set, names the network namespace (under /run/netns) to
	// program instead of the current one: `ip -n Netns`.
	Netns string
}

// Router programs host-gw routes to the other nodes' pod networks with
// the `ip` command.
type Router struct {
	cfg RouterConfig
}

// NewRouter returns a Router.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("new router: NodeName is required")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	return &Router{cfg: cfg}, nil
}

// SyncRoutes makes skiff's routes match nodes. It continues past a route
// it cannot program (say, a next hop not on any local subnet) and returns
// all such errors joined.
func (r *Router) SyncRoutes(ctx context.Context, nodes []*v1.Node) error {
	current, err := r.List(ctx)
	if err != nil {
		return err
	}
	replace, remove := DiffRoutes(current, DesiredRoutes(r.cfg.NodeName, r.cfg.ClusterCIDR, nodes))
	var errs []error
	for _, rt := range remove {
		if err := r.ip(ctx, nil, "route", "del", rt.Dst.String(), "proto", strconv.Itoa(RouteProtocol)); err != nil {
			errs = append(errs, fmt.Errorf("delete route %s: %w", rt, err))
		}
	}
	for _, rt := range replace {
		args := []string{"route", "replace"}
		if rt.Via.IsValid() {
			args = append(args, rt.Dst.String(), "via", rt.Via.String())
		} else {
			args = append(args, "unreachable", rt.Dst.String())
		}
		args = append(args, "proto", strconv.Itoa(RouteProtocol))
		if err := r.ip(ctx, nil, args...); err != nil {
			errs = append(errs, fmt.Errorf("replace route %s: %w", rt, err))
		}
	}
	return errors.Join(errs...)
}

// List returns the IPv4 routes of the main table that skiff owns.
func (r *Router) List(ctx context.Context) ([]Route, error) {
	var out bytes.Buffer
	if err := r.ip(ctx, &out, "-j", "-4", "route", "show", "proto", strconv.Itoa(RouteProtocol)); err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	if len(bytes.TrimSpace(out.Bytes())) == 0 {
		return nil, nil
	}
	var raw []struct {
		Type    string `json:"type"`
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
	}
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		return nil, fmt.Errorf("list routes: parse %q: %w", out.String(), err)
	}
	var routes []Route
	for _, e := range raw {
		dst, err := netip.ParsePrefix(e.Dst)
		if err != nil {
			// A host route prints without a length.
			a, aerr := netip.ParseAddr(e.Dst)
			if aerr != nil {
				continue
			}
			dst = netip.PrefixFrom(a, a.BitLen())
		}
		rt := Route{Dst: dst}
		if e.Type != "unreachable" {
			if rt.Via, err = netip.ParseAddr(e.Gateway); err != nil {
				// Not a shape skiff creates: report it so it is replaced.
				rt.Via = netip.IPv4Unspecified()
			}
		}
		routes = append(routes, rt)
	}
	return routes, nil
}

func (r *Router) ip(ctx context.Context, stdout *bytes.Buffer, args ...string) error {
	if r.cfg.Netns != "" {
		args = append([]string{"-n", r.cfg.Netns}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}
