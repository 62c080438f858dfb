package auth

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkBcrypt measures a verification at each work factor and what a
// reconnect storm of 16,500 vehicles (the fleet's peak) would cost in CPU
// seconds with no cache, and in wall seconds on this machine's cores. The
// figures in the package comment come from here:
//
//	go test -run - -bench Bcrypt -benchtime 20x ./cloud/auth/
func BenchmarkBcrypt(b *testing.B) {
	pw := NewPassword()
	for _, cost := range []int{4, 6, 8, 10, 12} {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("cost=%d", cost), func(b *testing.B) {
			for b.Loop() {
				if err := bcrypt.CompareHashAndPassword(h, []byte(pw)); err != nil {
					b.Fatal(err)
				}
			}
			per := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(per*1e3, "ms/verify")
			b.ReportMetric(per*16500, "cpu-s/16500-logins")
			b.ReportMetric(per*16500/float64(runtime.NumCPU()), "s/16500-logins")
		})
	}
}

// BenchmarkCheckCached is a reconnect whose password was verified before.
func BenchmarkCheckCached(b *testing.B) {
	c, _, _ := openGood(b, Options{})
	if _, err := c.Check("ops", operatorPassword); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Check("ops", operatorPassword); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse reads a file of 100,000 users, a large fleet's file.
func BenchmarkParse(b *testing.B) {
	const h = "$2a$04$XDKMxaYmfyjS.XJxJxqq/OF50GIr0p0td80LakLJtYRbVnXI5PnPy"
	var sb strings.Builder
	sb.WriteString("version: 1\nusers:\n")
	for i := range 100000 {
		fmt.Fprintf(&sb, "  - name: veh-%06d\n    role: vehicle\n    bcrypt: %s\n", i, h)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s, err := Parse("f", data)
		if err != nil || s.Len() != 100000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/100k-users")
}
