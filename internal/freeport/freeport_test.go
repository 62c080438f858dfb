package freeport

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestPorts(t *testing.T) {
	ports, err := Ports(200)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < Low || p >= High || seen[p] {
			t.Fatalf("ports %v: want 200 distinct ones in [%d, %d)", ports, Low, High)
		}
		seen[p] = true
	}
}

// TestAddrsListenable: every address can be listened on, all at once.
func TestAddrsListenable(t *testing.T) {
	addrs, err := Addrs(20)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("address %s: want loopback", a)
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("listen %s: %v", a, err)
		}
		defer l.Close()
	}
}

// TestPortsSkipsTaken: a port in use is not picked, even when most are.
func TestPortsSkipsTaken(t *testing.T) {
	taken := map[int]bool{}
	ports, err := Ports(50)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // taken meanwhile by someone else
		}
		defer l.Close()
		taken[p] = true
	}
	again, err := Ports(200)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range again {
		if taken[p] {
			t.Fatalf("port %d picked while this test listens on it", p)
		}
	}
}
