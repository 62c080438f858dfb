// Package can holds CAN frames, classic and FD, and the sources and sinks
// every other part of Kanal reads from: candump log files (LogReader,
// LogWriter, RotatingLog), paced replay (Replay) and the fan-in of several
// buses (Merge). SocketCAN lives in package can/socketcan, so this package
// has no kernel code and builds everywhere.
//
// The candump text format follows can-utils (lib.c, candump.c) byte for byte;
// see candump.go. Frame is a fixed-size value without pointers, so reading,
// decoding and writing frames allocate nothing; the decoder takes it by
// pointer.
package can
