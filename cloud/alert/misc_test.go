package alert

import (
	"fmt"
	"strconv"
)

func fmtN(n int) string   { return fmt.Sprintf("N=%d", n) }
func fmtCar(i int) string { return fmt.Sprintf("car-%02d", i) }
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
