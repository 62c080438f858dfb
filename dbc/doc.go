// Package dbc compiles DBC files into a decode Plan and decodes CAN frames
// with it, with the semantics of cantools (the Python reference that vehicle
// developers compare against):
//
//   - physical = raw × factor + offset, never clamped to [min, max]
//     (go.einride.tech/can clamps; out-of-range values are counted instead);
//   - Intel and Motorola signals of any start bit and length 1–64, signed
//     and unsigned, IEEE float32/float64 (SIG_VALTYPE_), payloads up to 64
//     bytes (CAN FD), 29-bit ids (DBC ids with 0x80000000 set);
//   - simple (M/mN) and extended (mNM, SG_MUL_VAL_) multiplexing, resolved
//     exactly as cantools' DBC loader does; a multiplexer value that selects
//     nothing makes the frame undecodable, as cantools raises DecodeError;
//   - a frame shorter than its message is not decoded; a longer one is.
//
// One deliberate difference: cantools cannot decode any frame of a message
// that has a signal outside the message length; Kanal leaves that signal
// out (and Lint reports it) and decodes the others.
//
// Files are parsed with go.einride.tech/can's DBC parser after a pre-scan
// that reads what it cannot (see prescan.go). Plan.Decode is the hot path:
// no allocation per frame, one 8-byte load per byte order per frame for
// signals in the first 8 bytes.
package dbc
