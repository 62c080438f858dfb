package auth

import (
	"net/http"
	"strings"
)

// FromRequest returns the name and password a request carries in its
// Authorization header, as "Bearer NAME:PASSWORD" or HTTP basic auth. The
// name ends at the first ':' (names have none; a password may).
func FromRequest(r *http.Request) (name, password string, ok bool) {
	h := r.Header.Get("Authorization")
	if scheme, token, found := strings.Cut(h, " "); found && strings.EqualFold(scheme, "Bearer") {
		name, password, ok = strings.Cut(strings.TrimSpace(token), ":")
		return name, password, ok && name != "" && password != ""
	}
	name, password, ok = r.BasicAuth()
	return name, password, ok && name != "" && password != ""
}

// VerifyRequest verifies the credentials of a request (see FromRequest).
// It returns false for a request without any.
func (c *Credentials) VerifyRequest(r *http.Request) (User, bool) {
	name, password, ok := FromRequest(r)
	if !ok {
		return User{}, false
	}
	return c.Verify(name, password)
}
