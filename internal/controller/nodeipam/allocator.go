package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
)

// ErrFull reports that every subnet of the cluster CIDR is in use.
var ErrFull = errors.New("no pod CIDR available")

// allocator hands out fixed-size subnets of a cluster CIDR.
type allocator struct {
	cluster netip.Prefix
	size    int // subnet prefix length
	used    map[netip.Prefix]bool
}

func newAllocator(cidr string, size int) (*allocator, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("parse cluster CIDR %q: %w", cidr, err)
	}
	p = p.Masked()
	if size < p.Bits() || size > p.Addr().BitLen() {
		return nil, fmt.Errorf("node mask size /%d does not fit cluster CIDR %s", size, p)
	}
	if size-p.Bits() > 24 {
		return nil, fmt.Errorf("node mask size /%d cuts %s into too many subnets", size, p)
	}
	return &allocator{cluster: p, size: size, used: map[netip.Prefix]bool{}}, nil
}

func (a *allocator) count() int { return 1 << (a.size - a.cluster.Bits()) }

// nth returns subnet i of the cluster CIDR.
func (a *allocator) nth(i int) netip.Prefix {
	base := new(big.Int).SetBytes(a.cluster.Addr().AsSlice())
	step := new(big.Int).Lsh(big.NewInt(int64(i)), uint(a.cluster.Addr().BitLen()-a.size))
	b := base.Add(base, step).Bytes()
	buf := make([]byte, a.cluster.Addr().BitLen()/8)
	copy(buf[len(buf)-len(b):], b)
	addr, _ := netip.AddrFromSlice(buf)
	return netip.PrefixFrom(addr, a.size)
}

// occupy marks a subnet used; subnets outside the cluster CIDR are ignored.
func (a *allocator) occupy(s string) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Bits() != a.size || !a.cluster.Contains(p.Addr()) {
		return
	}
	a.used[p.Masked()] = true
}

// next returns the lowest free subnet and marks it used.
func (a *allocator) next() (netip.Prefix, error) {
	for i := range a.count() {
		if p := a.nth(i); !a.used[p] {
			a.used[p] = true
			return p, nil
		}
	}
	return netip.Prefix{}, ErrFull
}
