// Package freeport picks loopback ports for tests that must name a port
// before something listens on it: a server restarted on "its" port, the
// nodes of a cluster that list each other's routes, a child process given
// its addresses on the command line.
//
// Such a pick has a window between the check and the bind. Listening on
// port 0 and closing, the usual trick, picks from the kernel's ephemeral
// range, from which every outgoing connection of every test running
// beside takes its local port (the gateway and load tests open
// thousands), and two picks in a row can even return the same port. Ports
// picks from below that range instead, and never the same port twice in
// one call.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// The ports are picked in [Low, High): above the ports services usually
// take and below Linux's default ephemeral range (32768-60999).
const Low, High = 20000, 32768

// Ports returns n distinct loopback ports that were free a moment ago.
func Ports(n int) ([]int, error) {
	seen := map[int]bool{}
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 1000 {
			return nil, fmt.Errorf("freeport: no %d free loopback ports in [%d, %d)", n, Low, High)
		}
		p := Low + rand.IntN(High-Low)
		if seen[p] {
			continue
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

// Addrs returns n distinct loopback addresses ("127.0.0.1:port") that
// were free a moment ago.
func Addrs(n int) ([]string, error) {
	ports, err := Ports(n)
	if err != nil {
		return nil, err
	}
	addrs := make([]string, n)
	for i, p := range ports {
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	return addrs, nil
}
