// Package dbc compiles DBC files into a decode Plan and decodes CAN frames
// with it, with the semantics of cantools (the Python reference that vehicle
// developers compare against):
//
//   - physical = raw × factor + offset, never clamped to [min, max]
//     (go.einride.tech/can clamps; out-of-range values are counted instead);
//   - Intel and Motorola signals of any start bit and length 1–64, signed
//     and unsigned, IEEE float32/float64 (SIG_VALTYPE_), payloads up to 64
//     bytes (CAN FD), 29-bit ids (DBC ids with 0x80000000 set);
//   - the values are those of cantools' Message.decode(data,
//     decode_choices=False): numbers, value-table labels not substituted;
//   - a SIG_VALTYPE_ of 1 or 2 makes a signal a float whose width is its
//     length (16, 32 or 64 bits), as bitstruct's 'f<length>' reads it;
//   - simple (M/mN) and extended (mNM, SG_MUL_VAL_) multiplexing, resolved
//     exactly as cantools' DBC loader does; the multiplexer's value is
//     int() of its physical value; a value that selects nothing (no child,
//     no VAL_ label, negative labels included) makes the frame
//     undecodable, as cantools raises DecodeError;
//   - a frame shorter than its message is not decoded; a longer one is,
//     from its first message-length bytes (allow_excess);
//   - of two messages with one id in a file, the last one decodes;
//   - Plan.AppendNumber prints what cantools returns as a Python int as the
//     exact integer and other values as the shortest round-trip float;
//     NaN and infinities, which JSON lacks, print as null.
//
// One deliberate difference: cantools cannot decode any frame of a message
// that has a signal outside the message length; Kanal leaves that signal
// out (and Lint reports it) and decodes the others.
//
// A file goes through two stages. Parse (build.go, build_mux.go) builds a
// Database, the model of the file with positions and problems (database.go,
// problem.go); it uses go.einride.tech/can's DBC parser after a pre-scan
// that reads what that parser cannot (prescan.go). NewPlan (compile.go)
// compiles Databases into a Plan (plan.go), flat tables per message.
// Plan.Decode (decode.go) is the hot path: no allocation per frame, one
// 8-byte load per byte order per frame for signals in the first 8 bytes.
package dbc
