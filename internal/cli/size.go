package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is a byte count flag that accepts units: 1048576, 512KiB, 64MiB, 1GB.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// Set implements pflag.Value.
func (s *Size) Set(v string) error {
	t := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("size %q: want a whole number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)", v)
	}
	*s = Size(n * mult)
	return nil
}

func (s *Size) String() string { return strconv.FormatInt(int64(*s), 10) }

// Type implements pflag.Value.
func (s *Size) Type() string { return "size" }
