package network

import "net"

// FirstHostIP is the first global unicast IPv4 address of this host, or
// loopback when there is none: the address a node and the API server
// advertise unless told otherwise.
func FirstHostIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP
			}
		}
	}
	return net.IPv4(127, 0, 0, 1)
}
