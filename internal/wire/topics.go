// Package wire holds what the edge agent, the ingest gateway and the tools
// outside this repository agree on, besides the batch codec (uplink/batch):
// the MQTT topics and NATS subjects (DESIGN.md, Contracts) and the small JSON
// messages on them (presence, commands and their replies, notices). They are
// contracts: a name or field here changes only with a new version prefix
// (kanal/v2/...), never in place.
package wire

import "strings"

// MQTT topics (MQTT v5, QoS 1).
const (
	// Prefix is the root of every Kanal MQTT topic.
	Prefix = "kanal/v1/"

	vehicles = Prefix + "vehicles/"
	cells    = Prefix + "cells/"
	alerts   = Prefix + "alerts/"
)

// BatchTopic is where a vehicle publishes its batches: kanal/v1/vehicles/{vehicle}/batch.
func BatchTopic(vehicle string) string { return vehicles + vehicle + "/batch" }

// StatusTopic is the vehicle's presence and command replies, and its last will:
// kanal/v1/vehicles/{vehicle}/status.
func StatusTopic(vehicle string) string { return vehicles + vehicle + "/status" }

// CommandTopic is where the cloud sends a vehicle commands: kanal/v1/vehicles/{vehicle}/cmd.
func CommandTopic(vehicle string) string { return vehicles + vehicle + "/cmd" }

// NoticeTopic is where the cloud sends notices to every vehicle in a grid cell:
// kanal/v1/cells/{cell}/notice, cell being its token.
func NoticeTopic(cell string) string { return cells + cell + "/notice" }

// AlertTopic is where traffic services read alerts: kanal/v1/alerts/{kind}/{cell}.
func AlertTopic(kind, cell string) string { return alerts + kind + "/" + cell }

// VehicleOf returns the vehicle of a kanal/v1/vehicles/{vehicle}/{leaf}
// topic and its leaf (batch, status, cmd), or false for any other topic.
func VehicleOf(topic string) (vehicle, leaf string, ok bool) {
	rest, ok := strings.CutPrefix(topic, vehicles)
	if !ok {
		return "", "", false
	}
	vehicle, leaf, ok = strings.Cut(rest, "/")
	if !ok || vehicle == "" || leaf == "" || strings.Contains(leaf, "/") {
		return "", "", false
	}
	return vehicle, leaf, true
}

// CellOf returns the cell token of a kanal/v1/cells/{cell}/notice topic.
func CellOf(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, cells)
	if !ok {
		return "", false
	}
	cell, leaf, ok := strings.Cut(rest, "/")
	return cell, ok && cell != "" && leaf == "notice"
}

// NATS subjects and JetStream streams.
const (
	// BatchesStream holds every batch once, as the vehicle sent it.
	BatchesStream = "KANAL_BATCHES"
	// DeadStream holds what the gateway refused, with the reason in a header.
	DeadStream = "KANAL_DEAD"
	// AlertsStream holds the alerts, traffic and fleet views.
	AlertsStream = "KANAL_ALERTS"
	// TwinsBucket is the KV bucket of vehicle twins.
	TwinsBucket = "KANAL_TWINS"
	// NoticesStream holds the notices to vehicles, per cell, until every
	// gateway has relayed them to its MQTT clients (kanal.notices.{cell}).
	NoticesStream = "KANAL_NOTICES"

	// BatchesAll, DeadAll and the alert wildcards are the streams' subjects.
	BatchesAll     = "kanal.batches.*"
	DeadAll        = "kanal.dead.*"
	AlertsAll      = "kanal.alerts.*.*"
	FleetAlertsAll = "kanal.fleet.alerts.*.*"
	NoticesAll     = "kanal.notices.*"
	// StatusAll matches every vehicle's forwarded status messages.
	StatusAll = "kanal.status.*"
)

// BatchSubject is kanal.batches.{vehicle}.
func BatchSubject(vehicle string) string { return "kanal.batches." + vehicle }

// DeadSubject is kanal.dead.{reason}.
func DeadSubject(reason string) string { return "kanal.dead." + reason }

// AlertSubject is kanal.alerts.{kind}.{cell}: the anonymous traffic view.
func AlertSubject(kind, cell string) string { return "kanal.alerts." + kind + "." + cell }

// FleetAlertSubject is kanal.fleet.alerts.{kind}.{vehicle}: the operators' view.
func FleetAlertSubject(kind, vehicle string) string {
	return "kanal.fleet.alerts." + kind + "." + vehicle
}

// StatusSubject is kanal.status.{vehicle}: the gateway forwards every
// message a vehicle publishes on its MQTT status topic (presence, its last
// will, command replies) here, payload unchanged, so that processors without
// an MQTT broker of their own keep the twins' online state.
func StatusSubject(vehicle string) string { return "kanal.status." + vehicle }

// NoticeSubject is kanal.notices.{cell}: a notice for the vehicles of one
// cell, which every gateway publishes on NoticeTopic(cell) to its clients.
func NoticeSubject(cell string) string { return "kanal.notices." + cell }

// SubjectToken returns the last token of subject after prefix ("kanal.batches."
// and the like), or false when subject does not start with prefix or the rest
// is empty or has more tokens.
func SubjectToken(subject, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok || rest == "" || strings.Contains(rest, ".") {
		return "", false
	}
	return rest, true
}
