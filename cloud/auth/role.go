package auth

import (
	"fmt"

	"github.com/kanal-dev/kanal/uplink/batch"
)

// Role is what a user is to the gateway.
type Role string

// The roles.
const (
	// RoleVehicle is an edge agent: the user's name is its vehicle id.
	RoleVehicle Role = "vehicle"
	// RoleTraffic is a traffic service that reads anonymous alerts.
	RoleTraffic Role = "traffic"
	// RoleOperator runs the fleet: commands, notices, status, NATS.
	RoleOperator Role = "operator"
)

// Roles lists every role, in the order they are documented.
var Roles = []Role{RoleVehicle, RoleTraffic, RoleOperator}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("role %q: want vehicle, traffic or operator", s)
}

// CheckName reports whether name can be a user's name: the vehicle id rules
// for every role (see the package comment for why).
func CheckName(name string) error {
	if err := batch.CheckVehicleID(name); err != nil {
		return fmt.Errorf("user name: %w", err)
	}
	return nil
}

// User is who logged in. It never carries the password or its hash.
type User struct {
	Name string
	Role Role
}
