package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// DefaultCost is the bcrypt work factor of new hashes (see the package
// comment for why it is 6).
const DefaultCost = 6

// passwordBytes is the entropy of a new password: 144 bits, printed as 24
// characters of URL-safe base64.
const passwordBytes = 18

// maxPassword is bcrypt's input limit: longer passwords cannot verify.
const maxPassword = 72

// NewPassword returns a new random password: 24 characters of A-Z, a-z,
// 0-9, '-' and '_' (never starting with '-', so it is never taken for a
// command-line flag), 144 bits from crypto/rand.
func NewPassword() string {
	b := make([]byte, passwordBytes)
	for {
		rand.Read(b) // never fails (crypto/rand panics rather than return short)
		p := base64.RawURLEncoding.EncodeToString(b)
		if p[0] != '-' {
			return p
		}
	}
}

// Hash returns the bcrypt hash of password at cost (DefaultCost when 0).
func Hash(password string, cost int) (string, error) {
	if cost == 0 {
		cost = DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", fmt.Errorf("bcrypt cost %d: want %d to %d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if password == "" || len(password) > maxPassword {
		return "", errors.New("password: want 1 to 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	return string(h), nil
}
