// Package socketcan reads and writes CAN frames, classic and FD, on Linux
// SocketCAN interfaces (can0, vcan0, ...). A Bus is a can.Source and a
// can.Sink.
//
// The code is written on golang.org/x/sys/unix rather than on
// go.einride.tech/can/pkg/socketcan, because einride's frames hold 8 bytes
// (no CAN FD), it reads no kernel timestamps or drop counts, and it does not
// survive an interface that goes down. A Bus does: when its interface goes
// down or disappears, Next logs it once, waits, reopens the socket by name
// and reads on.
//
// On other operating systems Open returns an error that wraps
// errors.ErrUnsupported, so the rest of Kanal still builds there.
//
// The tests need root and a kernel with vcan; on a machine without them,
// scripts/vmtest runs them inside a small QEMU VM.
package socketcan
