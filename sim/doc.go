// Package sim synthesizes the Kanal demo vehicle's CAN traffic
// (testdata/candumps/kanal_demo.dbc) for tests, demos and benchmarks.
//
// A Model keeps a vehicle's State (speed, position, lights, wipers,
// warning lamps, ...); a Transmitter steps the model every 10 ms and sends
// each of the DBC's messages at its cycle time, encoded from the state
// through an Encoder, with sensor noise and the sub-millisecond jitter of
// a real bus. The Encoder takes each signal's bit layout from the dbc
// package's own encoder once, so a frame costs no allocation (a fleet of
// thousands runs in one process) and is byte for byte what
// dbc.Message.Encode makes.
//
// Drive writes a Scenario (one vehicle's drive on open ground: a speed
// profile, a fog episode, hazard lights, lamps) as a candump log; the
// same scenario and seed give the same bytes, and `go generate ./sim`
// rewrites the demo drives in testdata/candumps from DemoDrives.
//
// The fleet simulator builds on it: sim/city is the road network, sim/fleet
// the vehicles that drive it with fog, warnings and breakdowns and the
// truth of the alerts they should raise, sim/runner runs them through real
// edge agents, and sim/cmd/fleet is the command.
package sim

//go:generate go run ./cmd/gendrives -dir ../testdata/candumps
