// Package api is the gateway's HTTP interface to alerts, twins and notices:
//
//	GET  /v1/alerts           active alerts (traffic, operator)
//	GET  /v1/alerts/stream    Server-Sent Events of alert changes, Last-Event-ID resume (traffic, operator)
//	GET  /v1/vehicles/{id}    a vehicle's twin (operator)
//	GET  /v1/vehicles?bbox=   the vehicles in an area now (operator)
//	POST /v1/notices          a notice to every vehicle in an area (operator)
//
// The alert endpoints serve the traffic view of KANAL_ALERTS only: no
// vehicle identity. Both filter by kind, cell (a token) and
// bbox=minLon,minLat,maxLon,maxLat (geo.ParseBBox; a cell matches when any
// part of it lies in the box). The stream's event ids are KANAL_ALERTS
// sequence numbers, so a client that reconnects with Last-Event-ID gets
// every change after the last one it saw, as long as the stream keeps it;
// without one it gets the active alerts first, then the changes.
//
// Requests carry the credentials of the gateway's credentials file, as
// "Authorization: Bearer NAME:PASSWORD" or HTTP basic auth; an
// Authenticator (the gateway's cloud/auth) checks them and names the role.
// Errors are JSON, {"error": "..."}, with a status that says whose fault it
// is. Every gateway serves the API; any of them reads the same JetStream
// state, so a load balancer may send a client to any.
//
// Client is the same API from Go: `ingest-gateway alerts watch` and
// `notice send` use it.
package api
