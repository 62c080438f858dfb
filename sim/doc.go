// Package sim synthesizes vehicle traffic for tests, demos and benchmarks.
//
// Drive turns a Scenario into a candump log of the Kanal demo vehicle
// (testdata/candumps/kanal_demo.dbc): a small vehicle model (speed profile,
// heading, engine, lights, wipers, warning lamps) sampled at each message's
// cycle time and encoded with the dbc package's own encoder. The same
// scenario and seed give the same bytes; `go generate ./sim` rewrites the
// demo drives in testdata/candumps.
package sim

//go:generate go run ./cmd/gendrives -dir ../testdata/candumps
