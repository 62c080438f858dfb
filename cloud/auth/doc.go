// Package auth holds the gateway's credentials: who may log in to the MQTT
// broker, the embedded NATS server and the HTTP API, with which role, and
// the bcrypt hash of each one's password. Passwords themselves are never
// stored, logged or kept in memory beyond one verification.
//
// # The credentials file
//
// A YAML file, written by `ingest-gateway credentials add|remove` (which
// keep its comments) and readable by people:
//
//	# Kanal credentials
//	version: 1
//	users:
//	  - name: WVW-ZZZ-1K-Z-4W-000001   # a vehicle: the name is its vehicle id
//	    role: vehicle
//	    bcrypt: $2a$06$0YQ4wXcS8Hq8E0kz0Qc3aOq2Y9jGmQ3mH0c1W0nq4yQmQ0X1b4W8e
//	  - name: city-traffic
//	    role: traffic
//	    bcrypt: $2a$06$...
//
// version is 1. Every user has a name, a role and a bcrypt hash; no other
// keys are allowed and names are unique. The file is read with yamlfile,
// so every mistake is reported at once with its file, line and column, and
// a mistake never echoes a hash.
//
// Names follow the vehicle id rules (batch.CheckVehicleID: 1 to 64 bytes of
// A-Z, a-z, 0-9, '_' and '-') for every role, not only vehicles: a name
// never contains ':', which separates name and password in a bearer token
// (NAME:PASSWORD) and name and suffix in the MQTT client id of a traffic or
// operator user (the broker's NAME:... rule), so no user can pose as another
// by choosing a name.
//
// # Roles
//
// vehicle: publishes its own batches and status and reads its commands and
// cell notices over MQTT. traffic: reads alerts (MQTT, HTTP). operator:
// sends commands and notices, reads status and alerts, and logs in to the
// gateway's NATS port. The broker (cloud/broker) enforces what each role
// may do; this package only says who is who.
//
// # Work factor
//
// DefaultCost is 6, not bcrypt's usual 10, and on purpose. The passwords
// are made by NewPassword: 144 random bits, which no offline attack can
// guess at any work factor (2^144 tries), so the factor buys no safety for
// them, while every login pays it. Measured on the project's 2-core machine
// (BenchmarkBcrypt, runs vary with the machine's load): cost 10 takes 64 to
// 81 ms a verification, so a reconnect storm of 16,500 vehicles after a
// gateway restart would need 18 to 22 CPU minutes; cost 6 takes about 4 ms,
// 65 CPU seconds. Hashes of any cost verify,
// so a file may hold slower hashes made elsewhere. Logins that succeeded are
// also remembered for CacheTTL (keyed by name and a keyed hash of the
// password, and dropped when the user's bcrypt hash changes), so a storm
// after a network blip costs no bcrypt at all, and at most MaxHashers
// verifications run at once, so a storm leaves cores to the traffic.
package auth
