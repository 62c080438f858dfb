// Package vcantest creates virtual CAN (vcan) links for tests that need a
// real SocketCAN interface.
//
// Creating links needs root (CAP_NET_ADMIN) and a kernel with AF_CAN and
// vcan. Where either is missing the test is skipped with the reason, so
// `go test ./...` passes on a development machine; scripts/vmtest runs the
// same tests inside a QEMU VM whose kernel has them, and sets RequireEnv
// there so that a broken VM fails instead of skipping.
package vcantest

// RequireEnv is the environment variable that turns a skip into a failure:
// when it is "1", a test that cannot create a vcan link fails.
const RequireEnv = "KANAL_REQUIRE_VCAN"
