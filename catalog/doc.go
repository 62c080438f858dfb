// Package catalog is the normalized signal set that the edge agent and the
// cloud share: every signal has a stable numeric ID, a VSS-style path, a
// unit and a type. A reading of a signal is a Value, 24 bytes with no
// pointers, which a DBC mapping makes from decoded values and the uplink
// samples.
//
// The default catalog (default.yaml, embedded) uses COVESA VSS names where
// VSS has the signal, and the project branch Vehicle.Kanal.* where it has
// none (warning lamps: Vehicle.Kanal.Warning.<Lamp>.IsOn). Users add their
// own signals with Load, which merges their files onto the default.
//
// # IDs
//
// An ID is assigned once, in the file, and never changes meaning. The
// default catalog owns 1–0xFFFF; user files own MinUserID (0x10000) and up,
// so the default can grow without colliding with anyone's file. An ID that
// is no longer used is listed under `retired:` and can never be reused.
// Load rejects a duplicate ID or path, naming both definitions.
//
// # File format
//
//	version: 1
//	retired: [17]          # ids never to be reused
//	signals:
//	  - id: 65536
//	    path: Vehicle.Private.Trailer.Load
//	    type: uint16         # boolean uint8 uint16 uint32 int8 int16 int32 float double enum
//	    unit: kg             # VSS unit name, optional
//	    min: 0               # optional; narrows the type's range
//	    max: 40000
//	    description: Load on the trailer axle.
//	  - id: 65537
//	    path: Vehicle.Private.Trailer.Mode
//	    type: enum
//	    allowed: [OFF, HITCHED, LOCKED]   # value = index
//
// Unknown fields are mistakes, not extensions: a typo (`uint:`) is caught.
// Every mistake is reported as file:line:column, all of them at once
// (internal/yamlfile, which DBC mappings and agent configs share).
package catalog
