package auth

import (
	"net/http"
	"testing"
)

func TestFromRequest(t *testing.T) {
	for _, tc := range []struct {
		name, header     string
		wantName, wantPw string
		ok               bool
	}{
		{"bearer", "Bearer ops:secret", "ops", "secret", true},
		{"bearer case", "bearer ops:secret", "ops", "secret", true},
		{"bearer colon in password", "Bearer ops:se:cret", "ops", "se:cret", true},
		{"bearer no colon", "Bearer opssecret", "", "", false},
		{"bearer no password", "Bearer ops:", "", "", false},
		{"bearer no name", "Bearer :secret", "", "", false},
		{"basic", "Basic b3BzOnNlY3JldA==", "ops", "secret", true}, // ops:secret
		{"basic bad base64", "Basic !!!", "", "", false},
		{"basic empty password", "Basic b3BzOg==", "", "", false}, // ops:
		{"other scheme", "Digest abc", "", "", false},
		{"none", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "http://x/v1/alerts", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			n, p, ok := FromRequest(r)
			if ok != tc.ok || ok && (n != tc.wantName || p != tc.wantPw) {
				t.Errorf("FromRequest = %q, %q, %v; want %q, %q, %v", n, p, ok, tc.wantName, tc.wantPw, tc.ok)
			}
		})
	}
}

func TestVerifyRequest(t *testing.T) {
	c, _, _ := openGood(t, Options{})
	r, _ := http.NewRequest("GET", "http://x/v1/alerts", nil)
	if _, ok := c.VerifyRequest(r); ok {
		t.Error("a request without credentials verified")
	}
	r.Header.Set("Authorization", "Bearer city-traffic:"+trafficPassword)
	if u, ok := c.VerifyRequest(r); !ok || u.Role != RoleTraffic {
		t.Errorf("bearer: %v %v", u, ok)
	}
	r.Header.Del("Authorization")
	r.SetBasicAuth("ops", operatorPassword)
	if u, ok := c.VerifyRequest(r); !ok || u.Role != RoleOperator {
		t.Errorf("basic: %v %v", u, ok)
	}
	r.SetBasicAuth("ops", "nope")
	if _, ok := c.VerifyRequest(r); ok {
		t.Error("wrong password verified")
	}
}
