// Package fleet simulates a fleet of the demo vehicle driving a synthetic
// city (package city), and knows what the cloud should make of it.
//
// Each Vehicle is a deterministic generator of one vehicle's CAN frames,
// made through the demo vehicle's DBC by sim.Transmitter: trips between
// places along the fastest routes, speeds by road class, stops at red
// lights and stop signs, parking with the ignition off (the bus silent)
// between trips. Fog banks drift across the map with the wind; a vehicle
// inside one slows down, switches on low beam and wipers and, after a
// reaction time, most drivers the fog lights. Warning lamps come on and
// vehicles break down (stop on the road with hazard lights on) at
// configurable rates. The seed fixes everything: the same Options give the
// same frames, byte for byte, however many goroutines run the vehicles.
//
// The frames reach the rest of Kanal three ways: WriteLogs writes one
// candump log per vehicle (for `edge-agent replay` onto vcan), a Source
// paces one vehicle's frames on a shared Clock as a live can.Source (for
// agent.Options.Source; sim/runner runs thousands of agents so in one
// process), and Play sends a Source to a SocketCAN bus.
//
// The Truth is what the frames should make the cloud's alert rules
// (cloud/alert) raise: fog per grid cell, warning lamps, breakdowns, with
// the moments and the alert ids the cloud gives them. It is computed from
// the values as encoded in the frames, which are the values the agent
// decodes, and the cells the agent computes from them, so a pipeline that
// loses nothing raises exactly these alerts.
package fleet
