package api

import (
	"net/http"
	"slices"
	"strings"
)

// Roles the API knows, as the credentials file names them.
const (
	RoleTraffic  = "traffic"
	RoleOperator = "operator"
)

// Authenticator checks a user's password and returns its role (vehicle,
// traffic or operator). The gateway's credentials (cloud/auth) implement
// it; it must be safe for concurrent use and take about the same time for
// a wrong name as for a wrong password.
type Authenticator interface {
	Verify(name, password string) (role string, ok bool)
}

// credentials returns the name and password of a request: a bearer token
// "NAME:PASSWORD" or HTTP basic auth.
func credentials(r *http.Request) (name, password string, ok bool) {
	h := r.Header.Get("Authorization")
	if token, found := strings.CutPrefix(h, "Bearer "); found {
		return strings.Cut(strings.TrimSpace(token), ":")
	}
	return r.BasicAuth()
}

// allow wraps h so that only the given roles reach it: 401 without valid
// credentials, 403 for another role.
func (a *API) allow(h http.HandlerFunc, roles ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, password, ok := credentials(r)
		if !ok || name == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kanal", Basic realm="kanal"`)
			writeError(w, http.StatusUnauthorized, "credentials required: Authorization: Bearer NAME:PASSWORD, or basic auth")
			return
		}
		role, ok := a.opts.Auth.Verify(name, password)
		if !ok {
			a.m.refused.WithLabelValues("credentials").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="kanal", Basic realm="kanal"`)
			writeError(w, http.StatusUnauthorized, "wrong user name or password")
			return
		}
		if !slices.Contains(roles, role) {
			a.m.refused.WithLabelValues("role").Inc()
			writeError(w, http.StatusForbidden, "role "+role+" may not use this endpoint (want "+strings.Join(roles, " or ")+")")
			return
		}
		h(w, r)
	}
}
